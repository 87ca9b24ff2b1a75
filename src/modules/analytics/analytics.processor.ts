import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job, UnrecoverableError } from 'bullmq';
import { AnalyticsJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { RetryService } from 'src/modules/emails/retry.service';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

type AnalyticsQueueJob = Job<JobPayloads[AnalyticsJob], unknown, AnalyticsJob>;

/** Worker of the low-priority `analytics` queue. */
@Processor(QueueName.Analytics, { concurrency: 2 })
export class AnalyticsProcessor extends WorkerHost {
  constructor(
    private readonly outbox: OutboxService,
    private readonly retries: RetryService,
    private readonly webhooks: WebhooksService,
  ) {
    super();
  }

  async process(job: AnalyticsQueueJob): Promise<unknown> {
    switch (job.name) {
      case AnalyticsJob.OutboxSweep:
        return {
          enqueued: await this.outbox.sweep(),
          webhooks: await this.webhooks.sweepUnprocessed(),
        };
      case AnalyticsJob.RetryScheduled:
        return this.retries.requeueDue();
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }
}
