import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import {
  JobPayloads,
  MAINTENANCE_JOB_OPTIONS,
  QueueName,
  tickJobId,
  WebhooksJob,
} from 'src/infra/queue/queue.constants';

/**
 * Enqueues the webhooks module's maintenance tick into its own queue: every minute, stored
 * webhook events that never got queued (Redis was down when they came) are queued again.
 * The jobId per minute makes replicas of the scheduler run each tick once.
 */
@Injectable()
export class WebhooksScheduler {
  private readonly logger = new Logger(WebhooksScheduler.name);

  constructor(@InjectQueue(QueueName.Webhooks) private readonly queue: Queue) {}

  @Cron(CronExpression.EVERY_MINUTE, { name: 'webhook-sweep' })
  async tick(now = new Date()): Promise<void> {
    const minute = new Date(Math.floor(now.getTime() / 60000) * 60000);
    const data: JobPayloads[WebhooksJob.SweepUnprocessed] = { tick: minute.toISOString() };
    try {
      await this.queue.add(WebhooksJob.SweepUnprocessed, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('webhook-sweep', minute),
      });
    } catch (err) {
      this.logger.warn(`webhook sweep not scheduled: ${(err as Error).message}`);
    }
  }
}
