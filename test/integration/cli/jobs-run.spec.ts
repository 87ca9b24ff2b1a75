import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { JobsRunCommand } from 'src/cli/commands/jobs-run.command';
import { buildDataSourceOptions } from 'src/data-source';
import { QueueName } from 'src/infra/queue/queue.constants';
import { makeEmailLog } from 'test/utils/factories';
import { ensureBuilt, ProcessRun, runCli } from 'test/utils/processes';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { createTestDatabase, TestDatabase, testRedisPrefix } from 'test/utils/test-db';

jest.setTimeout(120_000);

/**
 * A one-shot command must exit by itself: open connections would keep it alive. The bound
 * catches that, and is wide enough for a start-up on a loaded 2-core machine.
 */
const EXIT_WITHIN_MS = 45_000;

describe(JobsRunCommand.name, () => {
  let db: TestDatabase;
  let ds: DataSource;
  let redis: Redis;
  let delivery: Queue;
  const prefix = testRedisPrefix();

  /** Runs the built CLI (`npm run cli -- …` without the build step) to its exit. */
  const cli = (args: string[]): Promise<ProcessRun> =>
    runCli(
      args,
      { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix },
      EXIT_WITHIN_MS,
    );

  /** The job's hash, where BullMQ keeps it under the install's prefix. */
  const jobKey = (jobId: string) => `${prefix}:bull:${QueueName.EmailDelivery}:${jobId}`;

  /** Ids of the waiting delivery jobs that carry this message. */
  const jobsFor = async (messageId: string): Promise<string[]> =>
    (await delivery.getJobs(['waiting', 'prioritized', 'delayed']))
      .filter((j) => j.data.messageId === messageId)
      .map((j) => j.id!);

  /** A row as the accept path leaves it, accepted two minutes ago and not touched since. */
  const staleLog = async (status: 'queued' | 'sent' = 'queued') => {
    const log = await makeEmailLog(ds, { status });
    await ds.query(
      `UPDATE email_logs SET created_at = now() - interval '2 minutes',
         updated_at = now() - interval '2 minutes'
       WHERE id = $1`,
      [log.id],
    );
    return log;
  };
  let stale: Awaited<ReturnType<typeof staleLog>>;

  beforeAll(async () => {
    // Runs the real entry point, so it needs a build (a no-op when dist is current).
    ensureBuilt();
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 2 }));
    await ds.initialize();
    redis = new Redis(TEST_REDIS_URL);
    delivery = new Queue(QueueName.EmailDelivery, { connection: redis, prefix: `${prefix}:bull` });
  });
  afterAll(async () => {
    await delivery?.close();
    redis?.disconnect();
    await ds?.destroy();
    await db?.drop();
    await clearRedisPrefix(prefix);
  });

  describe('retry-scheduled', () => {
    it('re-queues due soft-bounce retries with a fresh job and fails suppressed ones', async () => {
      const due = await makeEmailLog(ds, {
        status: 'retry_scheduled',
        bounceType: 'soft',
        nextRetryAt: new Date(Date.now() - 1000),
      });
      const later = await makeEmailLog(ds, {
        status: 'retry_scheduled',
        bounceType: 'soft',
        nextRetryAt: new Date(Date.now() + 3600e3),
      });
      const blocked = await makeEmailLog(ds, {
        status: 'retry_scheduled',
        bounceType: 'soft',
        nextRetryAt: new Date(Date.now() - 1000),
      });
      await ds.query(
        `INSERT INTO blacklists (email, email_hash, reason) VALUES (lower($1), encode(sha256(convert_to(lower($1), 'UTF8')), 'hex'), 'manual')`,
        [blocked.recipient],
      );

      const run = await cli(['jobs:run', 'retry-scheduled']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('retry-scheduled: re-queued 1 message(s), 1 failed as suppressed\n');
      const rows = await ds.query(
        `SELECT external_message_id AS id, status, retry_count, error_message FROM email_logs WHERE id = ANY($1::bigint[]) ORDER BY email_logs.id`,
        [[due.id, later.id, blocked.id]],
      );
      expect(rows).toEqual([
        { id: due.externalMessageId, status: 'queued', retry_count: 1, error_message: null },
        {
          id: later.externalMessageId,
          status: 'retry_scheduled',
          retry_count: 0,
          error_message: null,
        },
        {
          id: blocked.externalMessageId,
          status: 'failed',
          retry_count: 0,
          error_message: 'Recipient blacklisted',
        },
      ]);
      await expect(jobsFor(due.externalMessageId)).resolves.toEqual([
        `${due.externalMessageId}-retry-1`,
      ]);
    });
  });

  describe('outbox-sweep', () => {
    it('enqueues the stale queued rows for delivery, prints the count and exits 0', async () => {
      stale = await staleLog();
      const fresh = await makeEmailLog(ds);
      const sent = await staleLog('sent');

      const run = await cli(['jobs:run', 'outbox-sweep']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('outbox-sweep: enqueued 1 message(s)\n');

      const [jobId] = await jobsFor(stale.externalMessageId);
      expect(jobId).toBeDefined();
      await expect(redis.type(jobKey(jobId))).resolves.toBe('hash');
      const data = JSON.parse((await redis.hget(jobKey(jobId), 'data'))!);
      expect(data).toEqual({
        messageId: stale.externalMessageId,
        domain: 'example.com',
        stream: 'transactional',
      });
      // Too young to be stale, or no longer queued: left alone.
      await expect(jobsFor(fresh.externalMessageId)).resolves.toEqual([]);
      await expect(jobsFor(sent.externalMessageId)).resolves.toEqual([]);
    });

    it('keeps one job per message when run again (only rows without a job are enqueued)', async () => {
      const [before] = await jobsFor(stale.externalMessageId);
      const timestamp = await redis.hget(jobKey(before), 'timestamp');

      const run = await cli(['jobs:run', 'outbox-sweep']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^outbox-sweep: enqueued [01] message\(s\)\n$/);
      await expect(jobsFor(stale.externalMessageId)).resolves.toEqual([before]);
      await expect(redis.hget(jobKey(before), 'timestamp')).resolves.toBe(timestamp);
    });
  });

  describe('an unknown job', () => {
    it('exits 1 naming the known jobs', async () => {
      const run = await cli(['jobs:run', 'hourly-statz']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        'unknown job "hourly-statz"; known: outbox-sweep, retry-scheduled',
      );
      expect(run.stdout).toBe('');
    });
  });

  describe('--hour', () => {
    it('is refused by a job that does not take it', async () => {
      const run = await cli(['jobs:run', 'outbox-sweep', '--hour', '2026-01-31T13:00:00Z']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('outbox-sweep does not take --hour');
      expect(run.stdout).toBe('');
    });

    it('must be an ISO 8601 date-time', async () => {
      const run = await cli(['jobs:run', 'outbox-sweep', '--hour', 'yesterday']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('--hour must be an ISO 8601 date-time');
      expect(run.stdout).toBe('');
    });
  });
});
