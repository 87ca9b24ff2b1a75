import { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AnalyticsJob } from 'src/infra/queue/queue.constants';
import { AnalyticsScheduler } from 'src/modules/analytics/analytics.scheduler';

describe(AnalyticsScheduler.name, () => {
  const add = jest.fn();
  const scheduler = new AnalyticsScheduler({ add } as unknown as Queue);

  beforeEach(() => add.mockReset().mockResolvedValue({}));

  describe('hourlyTick', () => {
    it('enqueues the previous hour with a jobId per hour', async () => {
      await scheduler.hourlyTick(new Date('2026-11-28T10:05:00.123Z'));

      expect(add).toHaveBeenCalledWith(
        AnalyticsJob.HourlyStats,
        { hour: '2026-11-28T09:00:00.000Z' },
        { jobId: 'hourly-stats-20261128T090000' },
      );
    });

    it('gives every replica ticking in the same hour the same jobId', async () => {
      await scheduler.hourlyTick(new Date('2026-11-28T10:05:00Z'));
      await scheduler.hourlyTick(new Date('2026-11-28T10:05:59.999Z'));

      const ids = add.mock.calls.map(([, , opts]) => (opts as { jobId: string }).jobId);
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).not.toContain(':');
    });

    it('logs instead of throwing when the queue is unavailable', async () => {
      add.mockRejectedValue(new Error('Connection is closed.'));
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      await expect(scheduler.hourlyTick(new Date())).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith('hourly stats not scheduled: Connection is closed.');
      warn.mockRestore();
    });
  });

  describe('dailyTick', () => {
    it('enqueues the daily job with a jobId per UTC day', async () => {
      await scheduler.dailyTick(new Date('2026-11-28T03:00:00.050Z'));

      expect(add).toHaveBeenCalledWith(
        AnalyticsJob.DailyStats,
        { day: '2026-11-28T00:00:00.000Z' },
        { jobId: 'daily-stats-20261128T000000' },
      );
    });
  });
});
