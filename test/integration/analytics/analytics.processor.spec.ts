import { getQueueToken } from '@nestjs/bullmq';
import { ConnectionOptions, Queue, QueueEvents } from 'bullmq';
import { AnalyticsJob, QueueName } from 'src/infra/queue/queue.constants';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';
import { AnalyticsProcessor } from 'src/modules/analytics/analytics.processor';
import { AnalyticsScheduler } from 'src/modules/analytics/analytics.scheduler';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

const HOUR_MS = 3600_000;

/** The statistics jobs through the real `analytics` queue and worker, and their scheduler. */
describe(`${AnalyticsProcessor.name} (statistics jobs)`, () => {
  let t: TestApp;
  let queue: Queue;
  let events: QueueEvents;

  beforeAll(async () => {
    t = await bootTestApp({ APP_ROLES: 'api,worker,scheduler' });
    queue = t.app.get<Queue>(getQueueToken(QueueName.Analytics));
    events = new QueueEvents(QueueName.Analytics, {
      connection: redisOptionsFromUrl(t.config.redisUrl) as ConnectionOptions,
      prefix: `${t.config.redisKeyPrefix}:bull`,
    });
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await events?.close();
    await t?.close();
  });

  describe(AnalyticsJob.HourlyStats, () => {
    it('aggregates the hour of the payload into hourly_stats', async () => {
      const hour = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 5 * HOUR_MS);
      const log = await makeEmailLog(t.dataSource, { recipient: 'ann@hourly.test' });
      await makeEmailEvent(t.dataSource, log, 'sent', { occurredAt: new Date(hour.getTime() + 1) });

      const job = await queue.add(AnalyticsJob.HourlyStats, { hour: hour.toISOString() });

      await expect(job.waitUntilFinished(events)).resolves.toEqual({
        hour: hour.toISOString(),
        sent: 1,
        domains: 1,
        // The anomaly check runs after the aggregation (one message: below the volume).
        anomaly_check: 'none',
      });
      await expect(
        t.dataSource.query(
          `SELECT stream, domain, sent FROM hourly_stats WHERE hour = $1
            ORDER BY stream NULLS FIRST, domain NULLS FIRST`,
          [hour],
        ),
      ).resolves.toEqual([
        // All streams (stream NULL), then each stream: a global row even when empty.
        { stream: null, domain: null, sent: 1 },
        { stream: null, domain: 'hourly.test', sent: 1 },
        { stream: 'broadcast', domain: null, sent: 0 },
        { stream: 'transactional', domain: null, sent: 1 },
        { stream: 'transactional', domain: 'hourly.test', sent: 1 },
      ]);
    });
  });

  describe(AnalyticsJob.DailyStats, () => {
    it('refreshes campaign stats and prunes', async () => {
      await makeEmailLog(t.dataSource, { campaignId: 'job-camp', sentAt: new Date() });

      const job = await queue.add(AnalyticsJob.DailyStats, { day: new Date().toISOString() });

      await expect(job.waitUntilFinished(events)).resolves.toEqual({
        campaigns: 1,
        pruned: {
          idempotencyKeys: 0,
          webhookEvents: 0,
          emailEvents: 0,
          hourlyStats: 0,
          expiredSuppressions: 0,
        },
      });
      await expect(
        t.dataSource.query(`SELECT campaign_id, total_sent FROM campaign_stats`),
      ).resolves.toEqual([{ campaign_id: 'job-camp', total_sent: 1 }]);
    });
  });

  describe(AnalyticsScheduler.name, () => {
    it('adds one hourly job however many replicas tick in that hour', async () => {
      const scheduler = t.app.get(AnalyticsScheduler);
      const now = new Date('2026-01-31T14:05:00Z');

      await scheduler.hourlyTick(now);
      await scheduler.hourlyTick(new Date(now.getTime() + 30_000));

      const job = await queue.getJob('hourly-stats-20260131T130000');
      expect(job?.name).toBe(AnalyticsJob.HourlyStats);
      expect(job?.data).toEqual({ hour: '2026-01-31T13:00:00.000Z' });
      const all = await queue.getJobs(['waiting', 'prioritized', 'active', 'completed', 'failed']);
      expect(all.filter((j) => j.data?.hour === '2026-01-31T13:00:00.000Z')).toHaveLength(1);
    });
  });
});
