import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { WorkerConcurrencyGovernor } from 'src/infra/adaptive-concurrency/worker-concurrency.governor';
import { EmailDeliveryJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import {
  DeliveryOutcome,
  DeliveryService,
  PermanentDeliveryError,
} from 'src/modules/emails/delivery.service';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { RetryService } from 'src/modules/emails/retry.service';

type DeliveryJob = Job<JobPayloads[EmailDeliveryJob.Deliver], DeliveryOutcome, EmailDeliveryJob>;
type EmailsQueueJob = Job<JobPayloads[EmailDeliveryJob], unknown, EmailDeliveryJob>;

/**
 * Worker of the `email-delivery` queue, the emails module's own: deliveries, and its
 * maintenance ticks (outbox sweep, soft-bounce retries, attachment prune) that OutboxScheduler enqueues
 * (docs/ARCHITECTURE.md "Queues and jobs"). Concurrency: WORKER_CONCURRENCY, lowered while
 * the API is busy (WorkerConcurrencyGovernor; README "Processes, roles and scaling out").
 */
@Processor(QueueName.EmailDelivery)
export class EmailDeliveryProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(EmailDeliveryProcessor.name);

  constructor(
    private readonly delivery: DeliveryService,
    private readonly outbox: OutboxService,
    private readonly retries: RetryService,
    private readonly attachments: AttachmentsService,
    private readonly config: AppConfig,
    private readonly governor: WorkerConcurrencyGovernor,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.governor.manage(QueueName.EmailDelivery, this.worker, this.config.workerConcurrency);
  }

  @OnWorkerEvent('failed')
  onFailed(job: EmailsQueueJob | undefined, err: Error): void {
    if (!job) return;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (job.name !== EmailDeliveryJob.Deliver) {
      this.logger.warn(
        { job: job.name, attempt: job.attemptsMade, final },
        `${job.name} ${final ? 'failed' : 'will be retried'}: ${err.message}`,
      );
      return;
    }
    const { messageId } = job.data as JobPayloads[EmailDeliveryJob.Deliver];
    this.logger.warn(
      { messageId, attempt: job.attemptsMade, final },
      `delivery ${final ? 'failed' : 'will be retried'}: ${err.message}`,
    );
  }

  async process(job: EmailsQueueJob, token?: string): Promise<unknown> {
    switch (job.name) {
      case EmailDeliveryJob.Deliver:
        return this.deliver(job as DeliveryJob, token);
      case EmailDeliveryJob.OutboxSweep:
        return { enqueued: await this.outbox.sweep() };
      case EmailDeliveryJob.RetryScheduled:
        return this.retries.requeueDue();
      case EmailDeliveryJob.PruneAttachments:
        return this.attachments.prune();
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }

  private async deliver(job: DeliveryJob, token?: string): Promise<DeliveryOutcome> {
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.delivery.deliver(
        job.data.messageId,
        job.data.domain,
        { attemptsMade: job.attemptsMade, maxAttempts: job.opts.attempts ?? 1 },
        job.data.stream,
      );
    } catch (err) {
      // Permanent: the message is already `failed`; BullMQ must not retry.
      if (err instanceof PermanentDeliveryError) throw new UnrecoverableError(err.message);
      throw err;
    }
    if (outcome.kind === 'delay') {
      // Waiting for a rate-control token (or send_at) is not a failure: no attempt is used.
      await job.moveToDelayed(Date.now() + outcome.delayMs, token);
      throw new DelayedError();
    }
    return outcome;
  }
}
