import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { EmailDeliveryJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import {
  DeliveryOutcome,
  DeliveryService,
  PermanentDeliveryError,
} from 'src/modules/emails/delivery.service';

type DeliveryJob = Job<JobPayloads[EmailDeliveryJob.Deliver], DeliveryOutcome, EmailDeliveryJob>;

/** Worker of the `email-delivery` queue; concurrency is set from WORKER_CONCURRENCY at start-up. */
@Processor(QueueName.EmailDelivery)
export class EmailDeliveryProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(EmailDeliveryProcessor.name);

  constructor(
    private readonly delivery: DeliveryService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.workerConcurrency;
  }

  @OnWorkerEvent('failed')
  onFailed(job: DeliveryJob | undefined, err: Error): void {
    if (!job) return;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    this.logger.warn(
      { messageId: job.data.messageId, attempt: job.attemptsMade, final },
      `delivery ${final ? 'failed' : 'will be retried'}: ${err.message}`,
    );
  }

  async process(job: DeliveryJob, token?: string): Promise<DeliveryOutcome> {
    switch (job.name) {
      case EmailDeliveryJob.Deliver:
        return this.deliver(job, token);
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }

  private async deliver(job: DeliveryJob, token?: string): Promise<DeliveryOutcome> {
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.delivery.deliver(job.data.messageId, job.data.domain, {
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
      });
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
