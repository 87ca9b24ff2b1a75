import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { RedisService } from 'src/infra/redis/redis.service';
import { WebhookDeliveryService } from 'src/modules/event-webhooks/webhook-delivery.service';
import { WebhookReceiver } from 'test/fakes/webhook-receiver';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { sleep, waitFor } from 'test/utils/wait';

jest.setTimeout(120_000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A redis-server of this file's own, without persistence (as test/e2e/redis-outage.spec.ts). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 5000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

async function killRedis(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * README "Event webhooks": an event is recorded in PostgreSQL before anything is queued, so a
 * Redis that dies in the middle of a fan-out and comes back empty (every drain job lost) costs
 * no event: the sweep drains the endpoints whose deliveries are due, and every event of a
 * 100-message batch reaches the receiver, each verifiable, with its one webhook-id.
 */
describe('event webhooks across a Redis restart (e2e)', () => {
  let t: TestApp;
  let port: number;
  let redis: ChildProcess | undefined;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    await receiver.start();
    // A slow receiver (two at a time, 40 ms each): the fan-out is still running when Redis dies.
    receiver.answer = () => ({ status: 200, delayMs: 40 });
    t = await bootTestApp({
      REDIS_URL: `redis://127.0.0.1:${port}/0`,
      APP_ROLES: 'api,worker',
      DEFAULT_FROM: 'Shop <news@shop.example>',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_ENDPOINT_CONCURRENCY: '2',
      WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms,200ms',
    });
  });
  afterAll(async () => {
    if (!redis && port) redis = await startRedis(port).catch(() => undefined);
    await t?.close();
    await receiver.stop();
    await killRedis(redis);
  });

  it('delivers every event of a batch although Redis restarted empty mid-fan-out', async () => {
    const key = await t.createKey();
    const ep = await request(t.server)
      .post('/api/v1/webhook-endpoints')
      .set('Authorization', `Bearer ${key}`)
      .send({ url: receiver.url('/r'), events: ['email.sent', 'email.delivered'] })
      .expect(201);
    const batch = await request(t.server)
      .post('/api/v1/batch')
      .set('Authorization', `Bearer ${key}`)
      .send({
        subject: 'Hi',
        text: 'Hi',
        recipients: Array.from({ length: 100 }, (_, i) => ({ to: `r${i}@example.test` })),
      })
      .expect(202);
    const ids = new Set<string>(
      batch.body.messages.map((m: { message_id: string }) => m.message_id),
    );
    await waitFor(
      async () =>
        (
          await t.dataSource.query(
            `SELECT count(*)::int AS n FROM email_logs WHERE status = 'delivered'`,
          )
        )[0].n === 100,
      'all 100 delivered',
      60_000,
    );
    await waitFor(() => receiver.on('/r').length >= 20, 'the fan-out under way', 30_000);
    expect(receiver.on('/r').length).toBeLessThan(200);

    await killRedis(redis);
    redis = undefined;
    const client = t.app.get(RedisService).client;
    await waitFor(() => client.status !== 'ready', 'the app to notice Redis is gone', 5000);
    await sleep(1500);
    redis = await startRedis(port);
    await waitFor(() => client.status === 'ready', 'Redis back', 10_000);

    // Every drain job is gone with Redis; the sweep (every minute in production) drains again.
    const sweeper = t.app.get(WebhookDeliveryService);
    const unique = (): Set<string> =>
      new Set(
        receiver
          .on('/r')
          .filter((r) => r.headers['webhook-id'])
          .map((r) => String(r.headers['webhook-id'])),
      );
    await waitFor(
      async () => {
        await sweeper.sweep(new Date().toISOString());
        return unique().size === 200;
      },
      'every event delivered',
      60_000,
      1000,
    );
    const seen = new Set<string>();
    for (const r of receiver.on('/r')) {
      const e = new Webhook(ep.body.secret).verify(r.body, {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      }) as { type: string; data: { message_id: string } };
      expect(ids.has(e.data.message_id)).toBe(true);
      seen.add(`${e.type} ${e.data.message_id}`);
    }
    expect(seen.size).toBe(200);
  });
});
