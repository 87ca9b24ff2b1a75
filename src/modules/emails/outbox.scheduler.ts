import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import { AnalyticsJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';

/** Enqueues the outbox sweep every minute; the jobId per minute makes replicas run it once. */
@Injectable()
export class OutboxScheduler {
  private readonly logger = new Logger(OutboxScheduler.name);

  constructor(@InjectQueue(QueueName.Analytics) private readonly queue: Queue) {}

  @Cron(CronExpression.EVERY_MINUTE, { name: 'outbox-sweep' })
  async tick(now = new Date()): Promise<void> {
    const minute = new Date(Math.floor(now.getTime() / 60000) * 60000).toISOString();
    const data: JobPayloads[AnalyticsJob.OutboxSweep] = { tick: minute };
    try {
      await this.queue.add(AnalyticsJob.OutboxSweep, data, { jobId: `outbox-sweep:${minute}` });
    } catch (err) {
      this.logger.warn(`outbox sweep not scheduled: ${(err as Error).message}`);
    }
  }
}
