import { Processor, WorkerHost } from '@nestjs/bullmq';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { JobPayloads, QueueName, WebhooksJob } from 'src/infra/queue/queue.constants';
import { ProcessResult } from 'src/modules/webhooks/postal-events.service';
import { SandboxSimulatorService } from 'src/modules/webhooks/sandbox-simulator.service';
import {
  UNKNOWN_MESSAGE_RETRY_MS,
  UnknownMessageYetError,
  WebhooksService,
} from 'src/modules/webhooks/webhooks.service';

type WebhooksQueueJob = Job<JobPayloads[WebhooksJob], unknown, WebhooksJob>;

/** Worker of the `webhooks` queue: Postal events and the sandbox's simulated outcomes. */
@Processor(QueueName.Webhooks, { concurrency: 20 })
export class WebhooksProcessor extends WorkerHost {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly simulator: SandboxSimulatorService,
  ) {
    super();
  }

  async process(job: WebhooksQueueJob, token?: string): Promise<ProcessResult | ProcessResult[]> {
    switch (job.name) {
      case WebhooksJob.Process:
        return this.processEvent(
          job as Job<JobPayloads[WebhooksJob.Process] & { unknownRetries?: number }>,
          token,
        );
      case WebhooksJob.SandboxOutcome:
        return this.simulator.simulate(
          (job.data as JobPayloads[WebhooksJob.SandboxOutcome]).messageId,
        );
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
