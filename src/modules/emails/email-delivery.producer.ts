import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { withTimeout } from 'src/common/async/timeout';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import type { Stream } from 'src/common/streams';
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

/**
 * BullMQ priority of broadcast jobs (README "Streams"). BullMQ serves jobs without a priority
 * (transactional: the plain wait list, O(1)) before any prioritized job, so a transactional
 * message never waits behind a broadcast backlog; prioritized jobs cost O(log n) to add, paid
 * by broadcast only.
 */
export const BROADCAST_PRIORITY = 10;

export interface DeliveryJobSpec {
  messageId: string;
  sendAt: Date | null;
  domain?: string;
  /** Absent: transactional. */
  stream?: Stream;
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
      ...(spec.stream ? { stream: spec.stream } : {}),
    };
    const delay = spec.sendAt ? Math.max(0, spec.sendAt.getTime() - Date.now()) : 0;
    return {
      name: EmailDeliveryJob.Deliver,
      data,
      opts: {
        jobId: spec.jobId ?? spec.messageId,
        delay,
        ...(spec.stream === 'broadcast' ? { priority: BROADCAST_PRIORITY } : {}),
      },
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

  /**
   * A rescheduled message (README "Cancel and reschedule"): its delayed job is moved to the
   * new time; a job already waiting or running is left alone (the worker reads `send_at`
   * after its claim and waits again if it is later); with no live job, one is added.
   */
  async reschedule(spec: DeliveryJobSpec): Promise<void> {
    const delay = spec.sendAt ? Math.max(0, spec.sendAt.getTime() - Date.now()) : 0;
    for (const jobId of [spec.messageId, `${spec.messageId}-swept`]) {
      const job = await this.queue.getJob(jobId);
      if (!job) continue;
      const state = await job.getState();
      if (state === 'delayed') {
        await job.changeDelay(delay);
        return;
      }
      if (LIVE_STATES.has(state)) return;
    }
    await this.requeueIfNoLiveJob([{ ...spec, jobId: spec.messageId }]);
  }

  /**
   * Drops the jobs of canceled messages so they take no rate-control token. Best effort: a
   * job that is running or already gone is left, and a leftover job finds its message
   * `canceled` at the claim and does nothing.
   */
  async removeJobs(messageIds: string[]): Promise<void> {
    const client = await this.queue.backend.client;
    if (client.status !== 'ready') return;
    const ids = messageIds.flatMap((id) => [id, `${id}-swept`]);
    for (let i = 0; i < ids.length; i += BULK_CHUNK) {
      const results = await Promise.allSettled(
        ids.slice(i, i + BULK_CHUNK).map((id) => this.queue.remove(id)),
      );
      const failed = results.filter((r) => r.status === 'rejected').length;
      if (failed > 0) this.logger.debug(`${failed} job(s) of canceled messages left to the claim`);
    }
  }
}
