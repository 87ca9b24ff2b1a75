import { Job, Queue } from 'bullmq';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import {
  AnalyticsJob,
  EmailDeliveryJob,
  QueueName,
  tickJobId,
} from 'src/infra/queue/queue.constants';
import { displayPrefix, generateApiKey, hashApiKey } from 'src/modules/auth/api-key.format';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import {
  AppProcess,
  ensureBuilt,
  freePort,
  ProcessGroup,
  shiftedClock,
} from 'test/utils/processes';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { createTestDatabase, TestDatabase, testRedisPrefix } from 'test/utils/test-db';
import { sleep, waitFor } from 'test/utils/wait';

jest.setTimeout(180_000);

const HOUR_MS = 3600_000;
/** Limits small enough to reach in a few requests. */
const IP_PER_MIN = 10;
const KEY_PER_MIN = 20;
const BAN_AFTER = 4;
/** messages/s for slow.test; the bucket holds one second of it (the burst). */
const RATE = 5;
const BURST = RATE;
const RATE_MESSAGES = 40;
/**
 * Between a worker taking a token and FakePostal stamping the request lie a claim query, the
 * composition and an HTTP round trip; a window of receipts may look this much shorter than the
 * window of the tokens behind them.
 */
const PIPELINE_JITTER_S = 1.5;
/** The schedulers' shifted clocks reach the tick this long after they are started. */
const TICK_AFTER_MS = 25_000;

interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

/**
 * Two API processes, two workers and two schedulers (the second one only until the tick has
 * been shown to run once) from the built binary, on one database and one Redis prefix.
 * Each worker talks to its own FakePostal, so every delivery is attributed to its worker.
 */
describe('several processes (2 API, 2 workers, schedulers)', () => {
  const processes = new ProcessGroup();
  const prefix = testRedisPrefix();
  let db: TestDatabase;
  let ds: DataSource;
  let redis: Redis;
  let deliveryQueue: Queue;
  let analyticsQueue: Queue;
  let postals: [FakePostal, FakePostal];
  let apiA: AppProcess;
  let apiB: AppProcess;
  let schedulers: AppProcess[];
  let portA: number;
  let portB: number;
  /** The hour the shifted schedulers' hourly tick aggregates, seeded with events. */
  let statsHour: Date;
  /** Fake time of the schedulers' tick: minute 5 of the next hour (hourly, retry, outbox). */
  let tick: Date;
  /** A delivered message turned into a due soft-bounce retry before the tick. */
  let retryMessageId: string;

  let ipSeq = 0;
  /** A client address of its own per request unless a test pins one (X-Forwarded-For). */
  const nextIp = () => {
    ipSeq += 1;
    return `198.51.${Math.floor(ipSeq / 250)}.${(ipSeq % 250) + 1}`;
  };

  const call = async (
    port: number,
    method: string,
    path: string,
    opts: { key?: string; ip?: string; body?: unknown } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = { 'X-Forwarded-For': opts.ip ?? nextIp() };
    if (opts.key) headers.Authorization = `Bearer ${opts.key}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.status, body, headers: res.headers };
  };

  /** Inserts an active full-scope key, as `api-keys:create` would. */
  const newKey = async (name: string): Promise<string> => {
    const key = generateApiKey();
    await ds.query(
      `INSERT INTO api_keys (name, key_prefix, key_hash, scope, active) VALUES ($1, $2, $3, 'full', true)`,
      [name, displayPrefix(key), hashApiKey(key)],
    );
    return key;
  };

  const emailId = (m: ReceivedMessage) => m.body.headers?.['X-Email-Id'];
  /** Receipts of these message ids, per worker (worker i talks to postals[i]). */
  const receivedBy = (ids: Set<string>) =>
    postals.map((p) => p.received.filter((m) => ids.has(emailId(m) ?? '')));

  const statusCounts = async (ids: string[]): Promise<Record<string, number>> => {
    const rows: Array<{ status: string; n: number }> = await ds.query(
      `SELECT status, count(*)::int AS n FROM email_logs
        WHERE external_message_id = ANY($1::uuid[]) GROUP BY status`,
      [ids],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  };

  const waitAllSent = (ids: string[], what: string) =>
    waitFor(
      async () => {
        const counts = await statusCounts(ids);
        if (counts.failed) throw new Error(`${what}: ${counts.failed} failed`);
        return counts.sent === ids.length;
      },
      `${what}: ${ids.length} sent`,
      60_000,
      100,
    );

  beforeAll(async () => {
    ensureBuilt();
    postals = [await new FakePostal().start(), await new FakePostal().start()];
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 2 }));
    await ds.initialize();
    redis = new Redis(TEST_REDIS_URL);
    deliveryQueue = new Queue(QueueName.EmailDelivery, {
      connection: redis,
      prefix: `${prefix}:bull`,
    });
    analyticsQueue = new Queue(QueueName.Analytics, {
      connection: redis,
      prefix: `${prefix}:bull`,
    });

    // Activity in an hour a day ago, for the hourly tick to aggregate.
    statsHour = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 24 * HOUR_MS);
    for (let i = 0; i < 3; i++) {
      const log = await makeEmailLog(ds, { recipient: `h${i}@hourly.test`, status: 'sent' });
      await makeEmailEvent(ds, log, 'sent', { occurredAt: new Date(statsHour.getTime() + 60_000) });
      await makeEmailEvent(ds, log, 'delivered', {
        occurredAt: new Date(statsHour.getTime() + 120_000),
      });
    }

    [portA, portB] = [await freePort(), await freePort()];
    const shared = {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      DB_POOL_SIZE: '5',
      TRACKING_SECRET: 'multi-process-tracking-secret-0123456789',
      MAIL_TRANSPORT: 'postal',
      POSTAL_URL: postals[0].url,
      POSTAL_API_KEY: postals[0].apiKey,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      RATE_LIMIT_IP_PER_MIN: String(IP_PER_MIN),
      RATE_LIMIT_KEY_PER_MIN: String(KEY_PER_MIN),
      AUTH_BAN_MAX_FAILURES: String(BAN_AFTER),
      DOMAIN_RATE_DEFAULT: '1000',
      DOMAIN_RATE_OVERRIDES: `slow.test=${RATE}`,
      WORKER_CONCURRENCY: '4',
    };
    const worker = (i: 0 | 1) =>
      processes.start({
        name: `worker ${i + 1}`,
        env: {
          ...shared,
          APP_ROLES: 'worker',
          POSTAL_URL: postals[i].url,
          POSTAL_API_KEY: postals[i].apiKey,
        },
      });

    const started = Date.now();
    apiA = processes.start({
      name: 'api A',
      env: { ...shared, APP_ROLES: 'api', PORT: String(portA) },
    });
    apiB = processes.start({
      name: 'api B',
      env: { ...shared, APP_ROLES: 'api', PORT: String(portB) },
    });
    const workers = [worker(0), worker(1)];
    await Promise.all([
      apiA.waitReady(portA),
      apiB.waitReady(portB),
      ...workers.map((w) => w.waitReady()),
    ]);
    const bootedMs = Date.now() - started;

    // No key existed: one API process creates and prints the first one. Wait for it before
    // inserting keys, which would otherwise make both find a key.
    await waitFor(
      () => [apiA, apiB].some((p) => /esk_[0-9A-Za-z]{40}/.test(p.stdout)),
      'a first key printed',
      30_000,
    );

    // A delivered message made a due soft-bounce retry, for the retry tick to pick up.
    const key = await newKey('retry');
    const sent = await call(portA, 'POST', '/api/v1/send', {
      key,
      body: { to: 'again@retry.test', subject: 'retry me', text: 'x' },
    });
    expect(sent.status).toBe(202);
    retryMessageId = sent.body.message_id;
    await waitAllSent([retryMessageId], 'message to retry');
    await ds.query(
      `UPDATE email_logs SET status = 'retry_scheduled', bounce_type = 'soft',
              next_retry_at = now() - interval '1 second'
        WHERE external_message_id = $1`,
      [retryMessageId],
    );

    // The schedulers start last, their clocks shifted so that both read `tick` (minute 5 of
    // the hour after statsHour) at the same real moment, TICK_AFTER_MS from now: both fire
    // the hourly, retry and outbox ticks together while the tests below run.
    tick = new Date(statsHour.getTime() + HOUR_MS + 5 * 60_000);
    // A loaded machine may boot them slower than TICK_AFTER_MS: then they missed the tick, so
    // they are stopped and started again with a lead of twice the boot time just measured.
    let tickAfterMs = TICK_AFTER_MS;
    let schedulersMs = 0;
    for (let attempt = 1; ; attempt++) {
      const tickAt = Date.now() + tickAfterMs;
      const clock = shiftedClock(tick.getTime() - tickAt);
      schedulers = [1, 2].map((n) =>
        processes.start({
          name: `scheduler ${n}`,
          nodeArgs: clock,
          env: { ...shared, APP_ROLES: 'scheduler', TZ: 'UTC' },
        }),
      );
      const schedulersStarted = Date.now();
      await Promise.all(schedulers.map((s) => s.waitReady()));
      schedulersMs = Date.now() - schedulersStarted;
      if (Date.now() <= tickAt - 1000) break;
      if (attempt === 3) {
        throw new Error(`schedulers took ${schedulersMs} ms to start, past their tick`);
      }
      await Promise.all(schedulers.map((s) => s.kill()));
      tickAfterMs = 2 * schedulersMs;
    }
    process.stdout.write(
      `multi-process: API and workers ready in ${bootedMs} ms, schedulers in ${schedulersMs} ms\n`,
    );
  });

  afterAll(async () => {
    await processes.killAll();
    await Promise.all(postals?.map((p) => p.stop()) ?? []);
    await deliveryQueue?.close();
    await analyticsQueue?.close();
    redis?.disconnect();
    await ds?.destroy();
    await db?.drop();
    await clearRedisPrefix(prefix);
  });

  describe('API processes', () => {
    it('created one first key between the two API processes booting together', async () => {
      // Both have had long enough to print theirs, had they created one.
      await sleep(1000);
      const printed = [apiA, apiB].filter((p) => /esk_[0-9A-Za-z]{40}/.test(p.stdout));
      expect(printed).toHaveLength(1);
    });

    it('counts the per-key limit once across both processes', async () => {
      const key = await newKey('per-key limit');
      for (let i = 0; i < KEY_PER_MIN; i++) {
        // Alternating processes, each request from another address (the IP limit stays out).
        const res = await call(i % 2 ? portB : portA, 'GET', '/api/v1/templates', { key });
        expect({ i, status: res.status }).toEqual({ i, status: 200 });
        expect(res.headers.get('ratelimit')).toMatch(
          new RegExp(`"key";r=${KEY_PER_MIN - 1 - i};t=\\d+$`),
        );
      }
      for (const port of [portA, portB]) {
        const res = await call(port, 'GET', '/api/v1/templates', { key });
        expect(res.status).toBe(429);
        expect(res.body.error.code).toBe('rate_limit_exceeded');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // Another key is not affected.
      const other = await newKey('per-key limit, other');
      expect((await call(portB, 'GET', '/api/v1/templates', { key: other })).status).toBe(200);
    });

    it('counts the per-IP limit once across both processes', async () => {
      const key = await newKey('per-IP limit');
      const ip = '203.0.113.10';
      for (let i = 0; i < IP_PER_MIN; i++) {
        const res = await call(i % 2 ? portB : portA, 'GET', '/api/v1/templates', { key, ip });
        expect({ i, status: res.status }).toEqual({ i, status: 200 });
      }
      for (const port of [portA, portB]) {
        const res = await call(port, 'GET', '/api/v1/templates', { key, ip });
        expect(res.status).toBe(429);
        expect(res.body.error.code).toBe('rate_limit_exceeded');
      }
      // The same key from another address is not limited.
      expect((await call(portA, 'GET', '/api/v1/templates', { key })).status).toBe(200);
    });

    it('bans an IP on both processes after failures made on one of them', async () => {
      const good = await newKey('ban');
      const ip = '203.0.113.20';
      const bad = `Bearer esk_${'0'.repeat(40)}`;
      const failOn = async (port: number) => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/templates`, {
          headers: { Authorization: bad, 'X-Forwarded-For': ip },
        });
        expect(res.status).toBe(401);
      };
      for (let i = 0; i < BAN_AFTER - 1; i++) await failOn(portA);
      // Below the threshold: the good key works from that address, on the other process too.
      expect((await call(portB, 'GET', '/api/v1/templates', { key: good, ip })).status).toBe(200);
      await failOn(portA);
      for (const port of [portB, portA]) {
        const res = await call(port, 'GET', '/api/v1/templates', { key: good, ip });
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe('blocked');
      }
      // Only that address is banned.
      expect((await call(portB, 'GET', '/api/v1/templates', { key: good })).status).toBe(200);
    });

    it('adds up failures made on both processes towards one ban', async () => {
      const good = await newKey('ban, split');
      const ip = '203.0.113.21';
      const fail = async (port: number) =>
        expect((await call(port, 'GET', '/api/v1/templates', { key: 'esk_nope', ip })).status).toBe(
          401,
        );
      // Half the failures on each process: neither alone reaches the threshold.
      for (let i = 0; i < BAN_AFTER - 1; i++) await fail(i % 2 ? portB : portA);
      expect((await call(portA, 'GET', '/api/v1/templates', { key: good, ip })).status).toBe(200);
      await fail(BAN_AFTER % 2 ? portA : portB);
      for (const port of [portA, portB]) {
        const res = await call(port, 'GET', '/api/v1/templates', { key: good, ip });
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe('blocked');
      }
    });
  });

  describe('worker processes', () => {
    it(`keep one domain within ${RATE}/s between them and deliver each message once`, async () => {
      const key = await newKey('rate control');
      const res = await call(portA, 'POST', '/api/v1/batch', {
        key,
        body: {
          subject: 'rate',
          text: 'x',
          recipients: Array.from({ length: RATE_MESSAGES }, (_, i) => ({ to: `u${i}@slow.test` })),
        },
      });
      expect(res.status).toBe(202);
      const ids: string[] = res.body.messages.map((m: { message_id: string }) => m.message_id);
      expect(new Set(ids).size).toBe(RATE_MESSAGES);
      await waitAllSent(ids, 'rate-limited batch');
      await waitFor(
        async () => {
          const c = await deliveryQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
          return Object.values(c).every((n) => n === 0);
        },
        'the delivery queue to drain',
        30_000,
        100,
      );

      const perWorker = receivedBy(new Set(ids));
      // Both workers took part, so the limit held between them, not inside one.
      expect(perWorker.map((r) => r.length > 0)).toEqual([true, true]);
      const all = perWorker.flat();
      expect(all).toHaveLength(RATE_MESSAGES);
      expect(new Set(all.map(emailId))).toEqual(new Set(ids));

      // Any k receipts spanning t seconds: k <= burst + rate × (t + jitter).
      const times = all.map((m) => m.receivedAt).sort((a, b) => a - b);
      let worst = { excess: -Infinity, count: 0, spanS: 0 };
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          const spanS = (times[j] - times[i]) / 1000;
          const excess = j - i + 1 - (BURST + RATE * (spanS + PIPELINE_JITTER_S));
          if (excess > worst.excess) worst = { excess, count: j - i + 1, spanS };
        }
      }
      expect(worst.excess).toBeLessThanOrEqual(0);
      const spanS = (times[times.length - 1] - times[0]) / 1000;
      process.stdout.write(
        `multi-process: ${RATE_MESSAGES} messages to a ${RATE}/s domain in ${spanS.toFixed(2)} s ` +
          `(${((RATE_MESSAGES - BURST) / spanS).toFixed(2)}/s after the burst; ` +
          `${perWorker[0].length} + ${perWorker[1].length} per worker; ` +
          `tightest window ${worst.count} in ${worst.spanS.toFixed(2)} s)\n`,
      );
    });

    it('render the new version of a template as soon as another API process changes it', async () => {
      const key = await newKey('templates');
      const send = (port: number) =>
        call(port, 'POST', '/api/v1/send', {
          key,
          body: { to: 'one@tpl.test', template_id: 'mp-welcome', variables: { name: 'Ann' } },
        });
      /**
       * Batches via API A until each worker has delivered at least one; returns the receipts
       * per worker. Which worker takes a job is up to BullMQ, hence the rounds.
       */
      const sendUntilBothWorkersRendered = async (): Promise<ReceivedMessage[][]> => {
        const ids = new Set<string>();
        for (let round = 0; round < 8; round++) {
          const res = await call(portA, 'POST', '/api/v1/batch', {
            key,
            body: {
              template_id: 'mp-welcome',
              variables: { name: 'Ann' },
              recipients: Array.from({ length: 4 }, (_, i) => ({ to: `r${round}-${i}@tpl.test` })),
            },
          });
          expect(res.status).toBe(202);
          for (const m of res.body.messages as Array<{ message_id: string }>) ids.add(m.message_id);
          await waitAllSent([...ids], 'template batch');
          const perWorker = receivedBy(ids);
          if (perWorker.every((r) => r.length > 0)) return perWorker;
        }
        throw new Error('one worker took every job of 8 batches');
      };

      // API A looks the template up before it exists…
      const missing = await send(portA);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('template_not_found');
      // …API B creates it, and A sees it at once.
      const created = await call(portB, 'POST', '/api/v1/templates', {
        key,
        body: {
          external_id: 'mp-welcome',
          name: 'Welcome',
          subject: 'v1 for {{name}}',
          html_content: '<p>v1 body {{name}}</p>',
        },
      });
      expect(created.status).toBe(201);
      expect((await send(portA)).status).toBe(202);

      const preview = (port: number) =>
        call(port, 'POST', '/api/v1/templates/mp-welcome/preview', {
          key,
          body: { variables: { name: 'Ann' } },
        });
      expect((await preview(portA)).body.subject).toBe('v1 for Ann');
      const before = await sendUntilBothWorkersRendered();
      for (const m of before.flat()) {
        expect(m.body.subject).toBe('v1 for Ann');
        expect(m.body.html_body).toContain('v1 body Ann');
      }

      const updated = await call(portB, 'PUT', '/api/v1/templates/mp-welcome', {
        key,
        body: { subject: 'v2 for {{name}}', html_content: '<p>v2 body {{name}}</p>' },
      });
      expect(updated.status).toBe(200);

      expect((await preview(portA)).body.subject).toBe('v2 for Ann');
      // Every worker rendered v1 above; from now on both must render v2.
      const after = await sendUntilBothWorkersRendered();
      for (const m of after.flat()) {
        expect(m.body.subject).toBe('v2 for Ann');
        expect(m.body.html_body).toContain('v2 body Ann');
        expect(m.body.html_body).not.toContain('v1 body');
      }

      // Deactivated through B: A stops accepting sends with it at once.
      expect((await call(portB, 'DELETE', '/api/v1/templates/mp-welcome', { key })).status).toBe(
        200,
      );
      const gone = await send(portA);
      expect(gone.status).toBe(404);
      expect(gone.body.error.code).toBe('template_not_found');
    });
  });

  describe('scheduler processes', () => {
    /** A queue's event stream entries for one job id, by event name. */
    const eventsFor = async (queue: QueueName, jobId: string): Promise<Record<string, number>> => {
      const entries = await redis.xrange(`${prefix}:bull:${queue}:events`, '-', '+');
      const counts: Record<string, number> = {};
      for (const [, fields] of entries) {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
        if (f.jobId === jobId) counts[f.event] = (counts[f.event] ?? 0) + 1;
      }
      return counts;
    };
    /** Statistics run in the `analytics` queue, the emails module's ticks in its own queue. */
    const jobsNamed = async (name: AnalyticsJob | EmailDeliveryJob): Promise<Job[]> =>
      (
        await (name === EmailDeliveryJob.RetryScheduled ? deliveryQueue : analyticsQueue).getJobs([
          'completed',
          'failed',
          'active',
          'waiting',
          'delayed',
          'prioritized',
        ])
      ).filter((j) => j.name === name);

    it('runs the hourly job and the retry tick once with two schedulers firing together', async () => {
      const hourlyId = tickJobId('hourly-stats', statsHour);
      const retryId = tickJobId('retry-scheduled', tick);
      const sweepId = tickJobId('outbox-sweep', tick);
      // Whatever the schedulers added for these ticks has run (only their ids are checked below).
      await waitFor(
        async () => {
          const jobs = [
            ...(await jobsNamed(AnalyticsJob.HourlyStats)),
            ...(await jobsNamed(EmailDeliveryJob.RetryScheduled)),
          ];
          const states = await Promise.all(jobs.map((j) => j.getState()));
          return jobs.length >= 2 && states.every((s) => s === 'completed');
        },
        'the hourly and retry ticks to run',
        TICK_AFTER_MS + 60_000,
        250,
      );
      await expect(
        jobsNamed(AnalyticsJob.HourlyStats).then((jobs) => jobs.map((j) => j.id)),
      ).resolves.toEqual([hourlyId]);
      await expect(
        jobsNamed(EmailDeliveryJob.RetryScheduled).then((jobs) => jobs.map((j) => j.id)),
      ).resolves.toEqual([retryId]);

      // Both schedulers added each tick; BullMQ kept one job per tick id, run once by one worker.
      for (const [queue, id] of [
        [QueueName.Analytics, hourlyId],
        [QueueName.EmailDelivery, retryId],
        [QueueName.EmailDelivery, sweepId],
      ] as const) {
        const events = await waitFor(
          async () => {
            const e = await eventsFor(queue, id);
            return (e.added ?? 0) + (e.duplicated ?? 0) >= 2 && e.completed && e;
          },
          `both schedulers' ${id}`,
          20_000,
          100,
        );
        expect(events).toEqual({ added: 1, waiting: 1, duplicated: 1, active: 1, completed: 1 });
      }

      // The hourly job aggregated the hour before the tick.
      await expect(
        ds.query(
          `SELECT stream, domain, sent, delivered FROM hourly_stats WHERE hour = $1
            ORDER BY stream NULLS FIRST, domain NULLS FIRST`,
          [statsHour],
        ),
      ).resolves.toEqual([
        // All streams, then each stream (README "Streams"): one set of rows, however many ran.
        { stream: null, domain: null, sent: 3, delivered: 3 },
        { stream: null, domain: 'hourly.test', sent: 3, delivered: 3 },
        { stream: 'broadcast', domain: null, sent: 0, delivered: 0 },
        { stream: 'transactional', domain: null, sent: 3, delivered: 3 },
        { stream: 'transactional', domain: 'hourly.test', sent: 3, delivered: 3 },
      ]);
      // The retry tick re-queued the due message once; it went out a second time, once.
      await waitAllSent([retryMessageId], 'retried message');
      await expect(
        ds.query(`SELECT retry_count FROM email_logs WHERE external_message_id = $1`, [
          retryMessageId,
        ]),
      ).resolves.toEqual([{ retry_count: 1 }]);
      await waitFor(
        async () => (await deliveryQueue.getJobState(`${retryMessageId}-retry-1`)) === 'completed',
        'the retry job to complete',
      );
      expect(receivedBy(new Set([retryMessageId])).flat()).toHaveLength(2);

      // The second scheduler goes away cleanly; the first one keeps running.
      await expect(schedulers[1].stop('SIGTERM')).resolves.toMatchObject({ code: 0 });
      expect(schedulers[0].running).toBe(true);
    });
  });
});
