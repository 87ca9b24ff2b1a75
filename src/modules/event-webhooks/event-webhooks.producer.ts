import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { withTimeout } from 'src/common/async/timeout';
import { EventWebhooksJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';

/** The fan-out never waits longer than this for Redis: the sweep is the fallback. */
const ENQUEUE_TIMEOUT_MS = 1500;

export interface DrainSpec {
  endpointId: string;
  /** Makes the jobId unique per reason (`f<first delivery id>`, `at<ms>`, `s<tick>`, …). */
  key: string;
  delayMs?: number;
}

/**
 * Owns the options of `EndpointDrain` jobs (docs/ARCHITECTURE.md "Event webhooks"): one jobId
 * per endpoint and reason, so a page published twice or two sweeps add one job. A drain job
 * carries only the endpoint's id; the deliveries are in PostgreSQL.
 */
@Injectable()
export class EventWebhooksProducer {
  private readonly logger = new Logger(EventWebhooksProducer.name);

  constructor(@InjectQueue(QueueName.EventWebhooks) private readonly queue: Queue) {}

  /** Never throws: deliveries that got no job are pending in PostgreSQL for the sweep. */
  async enqueueDrains(specs: DrainSpec[]): Promise<boolean> {
    if (specs.length === 0) return true;
    try {
      await withTimeout(
        this.queue.addBulk(
          specs.map((s) => {
            const data: JobPayloads[EventWebhooksJob.Drain] = { endpointId: s.endpointId };
            return {
              name: EventWebhooksJob.Drain,
              data,
              opts: {
                jobId: `drain-${s.endpointId}-${s.key}`,
                delay: Math.max(0, Math.round(s.delayMs ?? 0)),
              },
            };
          }),
        ),
        ENQUEUE_TIMEOUT_MS,
        `Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`,
      );
      return true;
    } catch (err) {
      this.logger.warn(
        `${specs.length} endpoint drain(s) left to the sweep: ${(err as Error).message}`,
      );
      return false;
    }
  }
}
