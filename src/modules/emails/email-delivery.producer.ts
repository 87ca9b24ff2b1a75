import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { withTimeout } from 'src/common/async/timeout';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import { EmailDeliveryJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';

const LIVE_STATES = new Set([
  'waiting',
  'delayed',
  'active',
  'prioritized',
  'waiting-children',
  'paused',
]);

/** BullMQ addBulk size: bounded request size to Redis. */
const BULK_CHUNK = 1000;
/** The API never waits longer than this for Redis: the outbox sweeper is the fallback. */
const ENQUEUE_TIMEOUT_MS = 1500;

export interface DeliveryJobSpec {
  messageId: string;
  sendAt: Date | null;
  domain?: string;
  /** Defaults to the message id; retries need another (the first job is kept for a while). */
  jobId?: string;
}

/** Owns the options of `EmailDeliver` jobs: jobId = message id (dedupe), delay for send_at. */
@Injectable()
export class EmailDeliveryProducer {
  private readonly logger = new Logger(EmailDeliveryProducer.name);

  /** Single sends of concurrent requests share one addBulk (one Redis round trip). */
  private readonly singles = new MicroBatcher(
    async (specs: DeliveryJobSpec[]) => {
      const done = await this.enqueue(specs);
      return specs.map((_, i) => i < done);
    },
    { maxBatchSize: BULK_CHUNK, maxInFlight: 4 },
  );

  constructor(@InjectQueue(QueueName.EmailDelivery) private readonly queue: Queue) {}

  /** One message's job; false when it was left to the outbox sweeper (never throws). */
  enqueueOne(spec: DeliveryJobSpec): Promise<boolean> {
    return this.singles.submit(spec);
  }

  private static toJob(spec: DeliveryJobSpec) {
    const data: JobPayloads[EmailDeliveryJob.Deliver] = {
      messageId: spec.messageId,
      domain: spec.domain,
    };
    const delay = spec.sendAt ? Math.max(0, spec.sendAt.getTime() - Date.now()) : 0;
    return {
      name: EmailDeliveryJob.Deliver,
      data,
      opts: { jobId: spec.jobId ?? spec.messageId, delay },
    };
  }

  /**
   * Enqueues in chunks. Returns how many were enqueued; never throws: rows that did not get a
   * job stay `queued` in PostgreSQL and the outbox sweeper enqueues them later.
   */
  async enqueue(specs: DeliveryJobSpec[]): Promise<number> {
    let done = 0;
    // Redis down: don't buffer commands in memory (they would pile up for the whole outage);
    // the rows are committed and the outbox sweeper enqueues them once Redis is back.
    const client = await this.queue.backend.client;
    if (client.status !== 'ready') {
      this.logger.warn(
        `Redis not connected: ${specs.length} message(s) left to the outbox sweeper`,
      );
      return 0;
    }
    for (let i = 0; i < specs.length; i += BULK_CHUNK) {
      const jobs = specs.slice(i, i + BULK_CHUNK).map(EmailDeliveryProducer.toJob);
      try {
        await withTimeout(
          this.queue.addBulk(jobs),
          ENQUEUE_TIMEOUT_MS,
          `Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`,
        );
        done += jobs.length;
      } catch (err) {
        this.logger.warn(
          `enqueue deferred to the outbox for ${specs.length - done} message(s): ${(err as Error).message}`,
        );
        return done;
      }
    }
    return done;
  }

  /**
   * Outbox: enqueues each message that has no live job (waiting, delayed, running) under
   * its own jobId nor under its one sweep jobId (`<jobId>-swept`). A finished sweep job is
   * replaced, so a message has at most one live job however many sweeps run.
   */
  async requeueIfNoLiveJob(specs: Array<DeliveryJobSpec & { jobId: string }>): Promise<number> {
    let added = 0;
    for (let i = 0; i < specs.length; i += 100) {
      const chunk = specs.slice(i, i + 100);
      const states = await Promise.all(
        chunk.map(async (s) => [
          await this.queue.getJobState(s.jobId),
          await this.queue.getJobState(`${s.jobId}-swept`),
        ]),
      );
      const orphans = chunk.filter((_, j) => !states[j].some((state) => LIVE_STATES.has(state)));
      await Promise.all(
        orphans.map(async (s, j) => {
          const sweptState = states[chunk.indexOf(s)][1];
          if (sweptState !== 'unknown' && j >= 0) await this.queue.remove(`${s.jobId}-swept`);
        }),
      );
      await this.enqueueStrict(orphans.map((s) => ({ ...s, jobId: `${s.jobId}-swept` })));
      added += orphans.length;
    }
    return added;
  }

  /** Re-enqueue for the outbox sweeper and retries; a live job with the same id is kept. */
  async enqueueStrict(specs: DeliveryJobSpec[]): Promise<void> {
    for (let i = 0; i < specs.length; i += BULK_CHUNK) {
      await this.queue.addBulk(specs.slice(i, i + BULK_CHUNK).map(EmailDeliveryProducer.toJob));
    }
  }
}
