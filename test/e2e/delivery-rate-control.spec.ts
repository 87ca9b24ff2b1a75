import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TEST_REDIS_URL, TestApp } from 'test/utils/test-app';
import { sleep, waitFor } from 'test/utils/wait';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '..', '..');

/**
 * Two real worker processes (`APP_ROLES=worker`, the built binary) share one Redis token
 * bucket per domain; the API runs in this process.
 */
describe('per-domain rate control across worker processes (e2e)', () => {
  let postal: FakePostal;
  let api: TestApp;
  let key: string;
  const workers: ChildProcess[] = [];
  const RATE = 10;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-if-needed.js')], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    postal = await new FakePostal().start();
    const shared = {
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      DOMAIN_RATE_DEFAULT: '1000',
      DOMAIN_RATE_OVERRIDES: `slow.example=${RATE}`,
      // If waiting for a token used attempts, most messages would fail with only 2.
      DELIVERY_MAX_ATTEMPTS: '2',
      WORKER_CONCURRENCY: '20',
    };
    api = await bootTestApp({ ...shared, APP_ROLES: 'api', RATE_LIMIT_BATCH_PER_MIN: '100' });
    key = await api.createKey();
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          LOG_LEVEL: 'warn',
          APP_ROLES: 'worker',
          DATABASE_URL: api.db.url,
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: api.config.redisKeyPrefix,
          TRACKING_SECRET: api.config.tracking.secret,
          ...shared,
        },
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      workers.push(child);
      await waitFor(
        () => out.includes('running roles worker'),
        `worker ${i} to start: ${out}`,
        30_000,
      );
    }
  });

  afterAll(async () => {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null) return resolve();
            w.once('exit', () => resolve());
            w.kill('SIGTERM');
          }),
      ),
    );
    await api.close();
    await postal.stop();
  });

  const batch = (domain: string, n: number) =>
    request(api.server)
      .post('/api/v1/batch')
      .set('Authorization', `Bearer ${key}`)
      .send({
        subject: 'r',
        text: 'x',
        recipients: Array.from({ length: n }, (_, i) => ({ to: `u${i}@${domain}` })),
      })
      .expect(202);

  it(`keeps a ${RATE}/s domain within its rate over 10 s with two workers, without using attempts`, async () => {
    const res = await batch('slow.example', 160);
    const ids = new Set(res.body.messages.map((m: { message_id: string }) => m.message_id));
    const mine = () => postal.received.filter((m) => ids.has(m.body.headers?.['X-Email-Id']));
    await waitFor(() => mine().length > 0, 'first send', 20_000);
    const start = Math.min(...mine().map((m) => m.receivedAt));
    // Skip the first second (the bucket starts full: one second of burst), then count 10 s.
    await sleep(Math.max(0, start + 11_500 - Date.now()));
    const inWindow = mine().filter(
      (m) => m.receivedAt >= start + 1000 && m.receivedAt < start + 11_000,
    ).length;
    expect(inWindow).toBeGreaterThanOrEqual(RATE * 10 * 0.8);
    expect(inWindow).toBeLessThanOrEqual(RATE * 10 * 1.2);

    await waitFor(
      async () => {
        const rows = await api.dataSource.query(
          `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM email_logs WHERE batch_id = $1`,
          [res.body.batch_id],
        );
        expect(rows[0].failed).toBe(0);
        return rows[0].sent === 160;
      },
      'all 160 sent',
      60_000,
      250,
    );
    expect(mine()).toHaveLength(160);
    expect(new Set(mine().map((m) => m.body.headers?.['X-Email-Id'])).size).toBe(160);
  });

  it('sends nothing to a paused domain until it is resumed', async () => {
    await request(api.server)
      .post('/api/v1/rate-control/pause')
      .set('Authorization', `Bearer ${key}`)
      .send({ domain: 'paused.example' })
      .expect(200);
    const res = await batch('paused.example', 5);
    const control = await batch('open.example', 3);
    const ids = new Set(res.body.messages.map((m: { message_id: string }) => m.message_id));
    const controlIds = new Set(
      control.body.messages.map((m: { message_id: string }) => m.message_id),
    );
    // Other domains keep flowing while one is paused.
    await waitFor(
      () =>
        postal.received.filter((m) => controlIds.has(m.body.headers?.['X-Email-Id'])).length === 3,
      'control domain sent',
    );
    await sleep(2000);
    expect(postal.received.filter((m) => ids.has(m.body.headers?.['X-Email-Id']))).toHaveLength(0);
    const queued = await api.dataSource.query(
      `SELECT count(*)::int AS n FROM email_logs WHERE batch_id = $1 AND status = 'queued'`,
      [res.body.batch_id],
    );
    expect(queued[0].n).toBe(5);

    await request(api.server)
      .post('/api/v1/rate-control/resume')
      .set('Authorization', `Bearer ${key}`)
      .send({ domain: 'paused.example' })
      .expect(200);
    await waitFor(
      () => postal.received.filter((m) => ids.has(m.body.headers?.['X-Email-Id'])).length === 5,
      'paused domain sent after resume',
      20_000,
    );
  });
});
