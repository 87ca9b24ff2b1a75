import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import type { Queue } from 'bullmq';
import {
  EventWebhooksJob,
  JobPayloads,
  MAINTENANCE_JOB_OPTIONS,
  QueueName,
  tickJobId,
} from 'src/infra/queue/queue.constants';

const DAY_MS = 24 * 3600_000;

/**
 * Enqueues the event-webhook sweep every minute (docs/ARCHITECTURE.md "Event webhooks"): due
 * deliveries whose drain job Redis lost, or never got, are drained; and the retention prune
 * once a day. The jobId per tick makes replicas of the scheduler run each once.
 */
@Injectable()
export class EventWebhooksScheduler {
  private readonly logger = new Logger(EventWebhooksScheduler.name);

  constructor(@InjectQueue(QueueName.EventWebhooks) private readonly queue: Queue) {}

  @Cron(CronExpression.EVERY_MINUTE, { name: 'event-webhooks-sweep' })
  async tick(now = new Date()): Promise<void> {
    const minute = new Date(Math.floor(now.getTime() / 60000) * 60000).toISOString();
    const data: JobPayloads[EventWebhooksJob.Sweep] = { tick: minute };
    try {
      await this.queue.add(EventWebhooksJob.Sweep, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('event-webhooks-sweep', new Date(minute)),
      });
    } catch (err) {
      this.logger.warn(`event webhooks sweep not scheduled: ${(err as Error).message}`);
    }
  }

  @Cron('45 3 * * *', { name: 'event-webhooks-prune', timeZone: 'UTC' })
  async pruneTick(now = new Date()): Promise<void> {
    const day = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    const data: JobPayloads[EventWebhooksJob.Prune] = { day: day.toISOString() };
    try {
      await this.queue.add(EventWebhooksJob.Prune, data, {
        ...MAINTENANCE_JOB_OPTIONS,
        jobId: tickJobId('event-webhooks-prune', day),
      });
    } catch (err) {
      this.logger.warn(`event webhooks prune not scheduled: ${(err as Error).message}`);
    }
  }
}
