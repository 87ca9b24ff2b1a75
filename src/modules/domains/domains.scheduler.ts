import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import { DomainsJob, JobPayloads, QueueName, tickJobId } from 'src/infra/queue/queue.constants';

const DAY_MS = 24 * 3600_000;

/**
 * Enqueues the daily DNS re-check of every sending domain at 04:30 UTC (README "Sending
 * domains"). The jobId per day makes replicas of the scheduler add it once.
 */
@Injectable()
export class DomainsScheduler {
  private readonly logger = new Logger(DomainsScheduler.name);

  constructor(@InjectQueue(QueueName.Domains) private readonly queue: Queue) {}

  @Cron('30 4 * * *', { name: 'domains-dns-recheck', timeZone: 'UTC' })
  async dailyTick(now = new Date()): Promise<void> {
    const day = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    const data: JobPayloads[DomainsJob.DnsRecheck] = { day: day.toISOString() };
    try {
      await this.queue.add(DomainsJob.DnsRecheck, data, {
        jobId: tickJobId('domains-dns-recheck', day),
      });
    } catch (err) {
      this.logger.warn(`domain DNS re-check not scheduled: ${(err as Error).message}`);
    }
  }
}
