import { DataSource } from 'typeorm';
import { JobsRunCommand } from 'src/cli/commands/jobs-run.command';
import { buildDataSourceOptions } from 'src/data-source';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import { ensureBuilt, ProcessRun, runCli } from 'test/utils/processes';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { createTestDatabase, TestDatabase, testRedisPrefix } from 'test/utils/test-db';

jest.setTimeout(180_000);

// A one-shot command that kept a connection open would never exit: this bound catches that, and
// is wide enough for a start-up on a loaded 2-core machine (a few seconds when quiet).
const EXIT_WITHIN_MS = 45_000;
const HOUR_MS = 3600_000;

/** `jobs:run hourly-stats` and `jobs:run daily-stats` through the built CLI. */
describe(`${JobsRunCommand.name} (statistics jobs)`, () => {
  let db: TestDatabase;
  let ds: DataSource;
  const prefix = testRedisPrefix();

  const cli = (args: string[]): Promise<ProcessRun> =>
    runCli(
      args,
      { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix },
      EXIT_WITHIN_MS,
    );

  beforeAll(async () => {
    ensureBuilt();
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 2 }));
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
    await clearRedisPrefix(prefix);
  });

  describe('hourly-stats', () => {
    it('aggregates the hour given with --hour (rounded down), prints it and exits 0', async () => {
      // Two days ago: inside every retention window, whatever today's date (the daily prune
      // removes events older than 180 days, and other tests in this file run it).
      const hour = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 48 * HOUR_MS);
      for (const domain of ['a.test', 'a.test', 'b.test']) {
        const log = await makeEmailLog(ds, { recipient: `x@${domain}` });
        await makeEmailEvent(ds, log, 'sent', { occurredAt: new Date(hour.getTime() + 60_000) });
        await makeEmailEvent(ds, log, 'delivered', {
          occurredAt: new Date(hour.getTime() + 120_000),
        });
      }

      const halfPast = new Date(hour.getTime() + HOUR_MS / 2).toISOString();
      const run = await cli(['jobs:run', 'hourly-stats', '--hour', halfPast]);

      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(
        `hourly-stats: ${hour.toISOString()}: sent 3, delivered 3, bounced 0 hard / 0 soft, ` +
          'complained 0, opened 0, clicked 0; 2 domain row(s)\n',
      );
      await expect(
        ds.query(
          `SELECT domain, sent, delivered, delivery_rate FROM hourly_stats
            WHERE hour = $1 AND stream IS NULL ORDER BY domain NULLS FIRST`,
          [hour],
        ),
      ).resolves.toEqual([
        { domain: null, sent: 3, delivered: 3, delivery_rate: '100.00' },
        { domain: 'a.test', sent: 2, delivered: 2, delivery_rate: '100.00' },
        { domain: 'b.test', sent: 1, delivered: 1, delivery_rate: '100.00' },
      ]);
    });

    it('aggregates the previous full hour by default', async () => {
      const started = Date.now();
      const run = await cli(['jobs:run', 'hourly-stats']);

      expect(run.code).toBe(0);
      const printed = /^hourly-stats: (\S+): sent 0,/.exec(run.stdout)?.[1];
      const expected = [started, Date.now()].map((t) =>
        new Date(Math.floor(t / HOUR_MS) * HOUR_MS - HOUR_MS).toISOString(),
      );
      expect(expected).toContain(printed);
      await expect(
        ds.query(
          `SELECT stream, sent FROM hourly_stats WHERE hour = $1 ORDER BY stream NULLS FIRST`,
          [printed],
        ),
      ).resolves.toEqual([
        // An empty hour still has its global rows: all streams, then each stream.
        { stream: null, sent: 0 },
        { stream: 'broadcast', sent: 0 },
        { stream: 'transactional', sent: 0 },
      ]);
    });
  });

  describe('daily-stats', () => {
    it('refreshes campaign stats, prunes, prints the counts and exits 0', async () => {
      await makeEmailLog(ds, { campaignId: 'cli-camp', sentAt: new Date(), status: 'sent' });
      await ds.query(
        `INSERT INTO webhook_events (uuid, event, payload, received_at)
         VALUES ('old', 'MessageSent', '{}', now() - interval '40 days')`,
      );

      const run = await cli(['jobs:run', 'daily-stats']);

      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(
        'daily-stats: refreshed 1 campaign(s); pruned 0 idempotency key(s), 1 webhook event(s), ' +
          '0 email event(s), 0 hourly stat row(s)\n',
      );
      await expect(ds.query(`SELECT campaign_id, total_sent FROM campaign_stats`)).resolves.toEqual(
        [{ campaign_id: 'cli-camp', total_sent: 1 }],
      );
    });

    it('refuses --hour', async () => {
      const run = await cli(['jobs:run', 'daily-stats', '--hour', '2026-06-01T13:00:00Z']);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain('daily-stats does not take --hour');
    });
  });
});
