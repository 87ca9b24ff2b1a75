import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import { AnalyticsJob, JobPayloads, QueueName, tickJobId } from 'src/infra/queue/queue.constants';
import { previousHour } from 'src/modules/analytics/analytics.service';

const DAY_MS = 24 * 3600_000;

/**
 * Enqueues the statistics jobs: the previous hour at minute 5 of every hour, the
 * daily job at 03:00 UTC. The jobId per hour/day makes replicas of the scheduler add each once.
 */
@Injectable()
export class AnalyticsScheduler {
  private readonly logger = new Logger(AnalyticsScheduler.name);

  constructor(@InjectQueue(QueueName.Analytics) private readonly queue: Queue) {}

  @Cron('5 * * * *', { name: 'hourly-stats', timeZone: 'UTC' })
  async hourlyTick(now = new Date()): Promise<void> {
    const hour = previousHour(now);
    const data: JobPayloads[AnalyticsJob.HourlyStats] = { hour: hour.toISOString() };
    try {
      await this.queue.add(AnalyticsJob.HourlyStats, data, {
        jobId: tickJobId('hourly-stats', hour),
      });
    } catch (err) {
      this.logger.warn(`hourly stats not scheduled: ${(err as Error).message}`);
    }
  }

  @Cron('0 3 * * *', { name: 'daily-stats', timeZone: 'UTC' })
  async dailyTick(now = new Date()): Promise<void> {
    const day = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    const data: JobPayloads[AnalyticsJob.DailyStats] = { day: day.toISOString() };
    try {
      await this.queue.add(AnalyticsJob.DailyStats, data, {
        jobId: tickJobId('daily-stats', day),
      });
    } catch (err) {
      this.logger.warn(`daily stats not scheduled: ${(err as Error).message}`);
    }
  }
}
