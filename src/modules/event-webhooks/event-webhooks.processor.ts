import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, UnrecoverableError } from 'bullmq';
import { AppConfig } from 'src/config/app-config';
import { WorkerConcurrencyGovernor } from 'src/infra/adaptive-concurrency/worker-concurrency.governor';
import { EventWebhooksJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import { WebhookDeliveryService } from 'src/modules/event-webhooks/webhook-delivery.service';

type EventWebhooksQueueJob = Job<JobPayloads[EventWebhooksJob], unknown, EventWebhooksJob>;

/**
 * Worker of the `event-webhooks` queue (docs/ARCHITECTURE.md "Queues and jobs"): endpoint
 * drains, the sweep and the daily retention prune. Concurrency (endpoints drained at once) from
 * WEBHOOK_WORKER_CONCURRENCY, lowered while the API is busy (WorkerConcurrencyGovernor).
 */
@Processor(QueueName.EventWebhooks)
export class EventWebhooksProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(EventWebhooksProcessor.name);

  constructor(
    private readonly delivery: WebhookDeliveryService,
    private readonly config: AppConfig,
    private readonly governor: WorkerConcurrencyGovernor,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.governor.manage(
      QueueName.EventWebhooks,
      this.worker,
      this.config.eventWebhooks.workerConcurrency,
    );
  }

  @OnWorkerEvent('failed')
  onFailed(job: EventWebhooksQueueJob | undefined, err: Error): void {
    if (!job) return;
    this.logger.warn(
      { job: job.name, jobId: job.id, attempt: job.attemptsMade },
      `${job.name} failed: ${err.message}`,
    );
  }

  async process(job: EventWebhooksQueueJob): Promise<unknown> {
    switch (job.name) {
      case EventWebhooksJob.Drain:
        return this.delivery.drain((job.data as JobPayloads[EventWebhooksJob.Drain]).endpointId);
      case EventWebhooksJob.Sweep:
        return {
          endpoints: await this.delivery.sweep(
            (job.data as JobPayloads[EventWebhooksJob.Sweep]).tick,
          ),
        };
      case EventWebhooksJob.Prune:
        return { events: await this.delivery.prune() };
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }
}
