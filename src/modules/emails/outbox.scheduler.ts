import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import {
  EmailDeliveryJob,
  JobPayloads,
  MAINTENANCE_JOB_OPTIONS,
  QueueName,
  tickJobId,
} from 'src/infra/queue/queue.constants';

/**
 * Enqueues the emails module's maintenance ticks into its own queue, run by the emails worker
 * (EmailDeliveryProcessor): the outbox sweep every minute, soft-bounce retries every 5
 * minutes, the attachment prune every hour. The jobId per tick makes replicas of the scheduler run each once.
 */
@Injectable()
export class OutboxScheduler {
  private readonly logger = new Logger(OutboxScheduler.name);

  constructor(@InjectQueue(QueueName.EmailDelivery) private readonly queue: Queue) {}

  @Cron(CronExpression.EVERY_MINUTE, { name: 'outbox-sweep' })
  async tick(now = new Date()): Promise<void> {
    const minute = new Date(Math.floor(now.getTime() / 60000) * 60000).toISOString();
    const data: JobPayloads[EmailDeliveryJob.OutboxSweep] = { tick: minute };
    try {
      await this.queue.add(EmailDeliveryJob.OutboxSweep, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('outbox-sweep', new Date(minute)),
      });
    } catch (err) {
      this.logger.warn(`outbox sweep not scheduled: ${(err as Error).message}`);
    }
  }

  @Cron('*/5 * * * *', { name: 'retry-scheduled' })
  async retryTick(now = new Date()): Promise<void> {
    const tick = new Date(Math.floor(now.getTime() / 300000) * 300000).toISOString();
    const data: JobPayloads[EmailDeliveryJob.RetryScheduled] = { tick };
    try {
      await this.queue.add(EmailDeliveryJob.RetryScheduled, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('retry-scheduled', new Date(tick)),
      });
    } catch (err) {
      this.logger.warn(`retry tick not scheduled: ${(err as Error).message}`);
    }
  }

  @Cron('17 * * * *', { name: 'prune-attachments' })
  async pruneTick(now = new Date()): Promise<void> {
    const tick = new Date(Math.floor(now.getTime() / 3600000) * 3600000).toISOString();
    const data: JobPayloads[EmailDeliveryJob.PruneAttachments] = { tick };
    try {
      await this.queue.add(EmailDeliveryJob.PruneAttachments, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('prune-attachments', new Date(tick)),
      });
    } catch (err) {
      this.logger.warn(`attachment prune not scheduled: ${(err as Error).message}`);
    }
  }
}
