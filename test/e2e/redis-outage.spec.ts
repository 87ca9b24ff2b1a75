import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import request from 'supertest';
import { EmailDeliveryJob, QueueName } from 'src/infra/queue/queue.constants';
import { RedisService } from 'src/infra/redis/redis.service';
import { EmailDeliveryProcessor } from 'src/modules/emails/email-delivery.processor';
import { OutboxScheduler } from 'src/modules/emails/outbox.scheduler';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { sleep, waitFor } from 'test/utils/wait';

jest.setTimeout(40_000);

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

/**
 * A redis-server of this file's own (the shared one on 6379 serves the other test files).
 * No persistence: after a restart it is empty, like Redis after a crash.
 */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1'],
      ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    ],
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
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
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
 * PostgreSQL is the source of truth (README "Backups and restore"). Redis stopped: `/send` still
 * answers 202 within 2 s (the row is committed, the enqueue gives up after 1.5 s). Redis
 * comes back empty, so a job it held is lost; the outbox sweeper enqueues the row again and
 * the message is delivered exactly once.
 */
describe('Redis outage (e2e)', () => {
  let postal: FakePostal;
  let t: TestApp;
  let key: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let delivery: Queue;
  /** Accepted while Redis was up; its job was in Redis when Redis died (lost). */
  let lostId: string;
  /** Accepted while Redis was down. */
  let outageId: string;

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    postal = await new FakePostal().start();
    t = await bootTestApp({
      REDIS_URL: `redis://127.0.0.1:${port}/0`,
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      // A delivery attempt made while Redis is still coming back is retried soon.
      DELIVERY_BACKOFF_MS: '200',
    });
    key = await t.createKey();
    delivery = t.app.get<Queue>(getQueueToken(QueueName.EmailDelivery));
  });
  afterAll(async () => {
    // Closing the app talks to Redis: bring it back if a test failed during the outage.
    if (!redis && port) redis = await startRedis(port).catch(() => undefined);
    await t?.close();
    await postal?.stop();
    await killRedis(redis);
  });

  const send = (to: string) =>
    request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to, subject: 'Hello', text: 'Hello there' });

  const rowStatus = async (id: string): Promise<string | undefined> =>
    (
      await t.dataSource.query('SELECT status FROM email_logs WHERE external_message_id = $1', [id])
    )[0]?.status;

  /** As if accepted two minutes ago and not touched since: what the sweeper looks for. */
  const makeStale = (id: string) =>
    t.dataSource.query(
      `UPDATE email_logs SET created_at = now() - interval '2 minutes',
         updated_at = now() - interval '2 minutes'
       WHERE external_message_id = $1`,
      [id],
    );

  /** Delivery jobs not yet finished that carry this message (whatever their jobId). */
  const jobsFor = async (messageId: string): Promise<string[]> =>
    (await delivery.getJobs(['waiting', 'prioritized', 'delayed', 'active']))
      .filter((j) => j.data.messageId === messageId)
      .map((j) => j.id!);

  const receivedFor = (id: string) =>
    postal.received.filter((m) => m.body.headers?.['X-Email-Id'] === id);

  it('delivers while Redis is up', async () => {
    const res = await send('before@example.com').expect(202);
    await waitFor(async () => (await rowStatus(res.body.message_id)) === 'sent', 'sent');
    expect(receivedFor(res.body.message_id)).toHaveLength(1);

    // This one's job waits in Redis (queue paused) when Redis dies: the crash loses it.
    await delivery.pause();
    lostId = (await send('lost@example.com').expect(202)).body.message_id;
    await expect(jobsFor(lostId)).resolves.toHaveLength(1);
  });

  describe('with Redis stopped', () => {
    beforeAll(async () => {
      await killRedis(redis);
      redis = undefined;
      const client = t.app.get(RedisService).client;
      await waitFor(() => client.status !== 'ready', 'the app to notice Redis is gone', 5000);
    });

    // The API key guard (PostgreSQL), the per-IP and per-key throttles and the ban check fail
    // open when Redis does not answer: that is what lets /send accept mail during an outage.
    it('authenticates a valid key, throttles open and answers a bad key 401 (never 500/503)', async () => {
      const started = Date.now();
      const ok = await request(t.server)
        .get('/api/v1/messages')
        .set('Authorization', `Bearer ${key}`);
      expect(ok.status).toBe(200);
      const bad = await request(t.server)
        .get('/api/v1/messages')
        .set('Authorization', 'Bearer esk_not-a-key');
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe('unauthorized');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('accepts /send with 202 within 2 s and keeps the row queued in PostgreSQL', async () => {
      const started = Date.now();
      const res = await send('outage@example.com');
      const elapsed = Date.now() - started;
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ message_id: expect.any(String), status: 'queued', send_at: null });
      expect(elapsed).toBeLessThan(2000);
      outageId = res.body.message_id;
      await expect(rowStatus(outageId)).resolves.toBe('queued');
      await expect(rowStatus(lostId)).resolves.toBe('queued');
    });

    it('reports Redis down on /health with 503', async () => {
      const res = await request(t.server).get('/health').expect(503);
      expect(res.body.error.redis.status).toBe('down');
      expect(res.body.info.database.status).toBe('up');
    });
  });

  describe('after Redis comes back empty', () => {
    beforeAll(async () => {
      redis = await startRedis(port);
      // The app's clients (its own and BullMQ's) reconnect by themselves.
      await waitFor(
        async () => (await request(t.server).get('/health')).status === 200,
        'health to recover',
        10_000,
      );
    });

    it('has lost the job that Redis held: the row is queued and no job carries it', async () => {
      await expect(rowStatus(lostId)).resolves.toBe('queued');
      await expect(jobsFor(lostId)).resolves.toEqual([]);
    });

    it('re-enqueues it from the outbox sweep and from the scheduled sweep', async () => {
      await makeStale(lostId);
      // Held back so that every sweep below sees the row still queued.
      await delivery.pause();
      const outbox = t.app.get(OutboxService);
      await expect(outbox.sweep()).resolves.toBe(1);
      await outbox.sweep();

      // The cron path: the scheduler's tick adds OutboxSweep to the emails module's own queue
      // and the emails worker runs it. (tick() only logs a failed add, so look for the job it
      // must add.) That queue is paused here, so its processor is handed the job directly.
      await new OutboxScheduler(delivery).tick();
      const [tickJob] = (await delivery.getJobs()).filter(
        (j: Job) => j.name === EmailDeliveryJob.OutboxSweep,
      );
      expect(tickJob).toBeDefined();
      const done = await t.app
        .get(EmailDeliveryProcessor)
        .process(tickJob as Parameters<EmailDeliveryProcessor['process']>[0]);
      expect(done).toMatchObject({ enqueued: expect.any(Number) });

      await expect(jobsFor(lostId)).resolves.not.toEqual([]);
    });

    it('holds one job for it however many sweeps ran (only rows without a job are enqueued)', async () => {
      await expect(jobsFor(lostId)).resolves.toHaveLength(1);
    });

    it('delivers it exactly once', async () => {
      await delivery.resume();
      await waitFor(async () => (await rowStatus(lostId)) === 'sent', 'the lost one sent');
      await expect(t.app.get(OutboxService).sweep()).resolves.toBe(0);
      await sleep(300);
      expect(receivedFor(lostId)).toHaveLength(1);
    });

    it('delivers the message accepted during the outage exactly once', async () => {
      // Its enqueue may still reach Redis on reconnection (ioredis replays what BullMQ had
      // pending) or not; either way the outbox covers it and the worker's claim dedupes.
      await delivery.resume();
      await makeStale(outageId);
      const outbox = t.app.get(OutboxService);
      await outbox.sweep();
      await outbox.sweep();
      await waitFor(async () => (await rowStatus(outageId)) === 'sent', 'the outage one sent');
      await outbox.sweep();
      await sleep(300);
      expect(receivedFor(outageId)).toHaveLength(1);
      // Nothing was sent twice.
      const ids = postal.received.map((m) => m.body.headers?.['X-Email-Id']);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });
});
