import { Processor, WorkerHost } from '@nestjs/bullmq';
import { OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { WorkerConcurrencyGovernor } from 'src/infra/adaptive-concurrency/worker-concurrency.governor';
import { JobPayloads, QueueName, WebhooksJob } from 'src/infra/queue/queue.constants';
import type { ProcessResult } from 'src/modules/emails/lifecycle/postal/postal-events.service';
import {
  UNKNOWN_MESSAGE_RETRY_MS,
  UnknownMessageYetError,
  WebhooksService,
} from 'src/modules/webhooks/webhooks.service';

type WebhooksQueueJob = Job<JobPayloads[WebhooksJob], unknown, WebhooksJob>;

/** Stored Postal events processed at once per worker process (fewer while the API is busy). */
const WEBHOOKS_CONCURRENCY = 20;

/**
 * Worker of the `webhooks` queue: hands stored Postal events over to their interpretation
 * (the emails module's PostalEventsService), and runs the webhooks module's own maintenance
 * tick, the sweep of stored events that never got queued (docs/ARCHITECTURE.md).
 */
@Processor(QueueName.Webhooks, { concurrency: WEBHOOKS_CONCURRENCY })
export class WebhooksProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly governor: WorkerConcurrencyGovernor,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.governor.manage(QueueName.Webhooks, this.worker, WEBHOOKS_CONCURRENCY);
  }

  async process(job: WebhooksQueueJob, token?: string): Promise<unknown> {
    switch (job.name) {
      case WebhooksJob.Process:
        return this.processEvent(
          job as Job<JobPayloads[WebhooksJob.Process] & { unknownRetries?: number }>,
          token,
        );
      case WebhooksJob.SweepUnprocessed:
        return { requeued: await this.webhooks.sweepUnprocessed() };
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }

  private async processEvent(
    job: Job<JobPayloads[WebhooksJob.Process] & { unknownRetries?: number }>,
    token?: string,
  ): Promise<ProcessResult> {
    const tries = job.data.unknownRetries ?? 0;
    try {
      return await this.webhooks.process(job.data.webhookEventId, tries, {
        finalAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
      });
    } catch (err) {
      if (!(err instanceof UnknownMessageYetError)) throw err;
      // Not a failure: look again shortly without using an attempt.
      await job.updateData({ ...job.data, unknownRetries: tries + 1 });
      await job.moveToDelayed(Date.now() + UNKNOWN_MESSAGE_RETRY_MS, token);
      throw new DelayedError();
    }
  }
}
