import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { withTimeout } from 'src/common/async/timeout';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { mayHoldUnstorableText, toStorableText } from 'src/common/text/storable-text';
import { JobPayloads, QueueName, WebhooksJob } from 'src/infra/queue/queue.constants';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import {
  PostalEnvelope,
  PostalEventIngress,
  PostalEventSource,
} from 'src/common/ports/postal-event-ingress';
import {
  PostalEventsService,
  ProcessResult,
} from 'src/modules/emails/lifecycle/postal/postal-events.service';
import { WebhookEventRepository } from 'src/modules/webhooks/webhook-event.repository';

const ENQUEUE_TIMEOUT_MS = 1500;
/**
 * An event for a message not found yet is looked at again this many times, this far apart:
 * Postal's webhook can beat our own `sent` update by a few milliseconds.
 */
export const UNKNOWN_MESSAGE_RETRIES = 2;
export const UNKNOWN_MESSAGE_RETRY_MS = 2000;

export class UnknownMessageYetError extends Error {}

export type Envelope = PostalEnvelope;

/** Parses Postal's envelope `{event, timestamp, payload, uuid}` from the raw bytes. */
export function parseEnvelope(raw: Buffer): Envelope {
  let body: unknown;
  try {
    const text = raw.toString('utf8');
    body = JSON.parse(text);
    // Signed and genuine, but jsonb cannot hold U+0000 or a lone surrogate: store U+FFFD.
    if (mayHoldUnstorableText(text)) body = toStorableText(body);
  } catch {
    throw new ValidationFailedError('Malformed JSON in webhook body');
  }
  const b = body as Record<string, unknown> | null;
  const problems: Array<{ field: string; message: string }> = [];
  if (!b || typeof b !== 'object' || Array.isArray(b)) {
    throw new ValidationFailedError('The webhook body must be a JSON object');
  }
  if (typeof b.uuid !== 'string' || b.uuid.length === 0 || b.uuid.length > 64)
    problems.push({ field: 'uuid', message: 'uuid must be a string of 1 to 64 characters' });
  if (typeof b.event !== 'string' || b.event.length === 0 || b.event.length > 64)
    problems.push({ field: 'event', message: 'event must be a string of 1 to 64 characters' });
  if (!b.payload || typeof b.payload !== 'object' || Array.isArray(b.payload))
    problems.push({ field: 'payload', message: 'payload must be an object' });
  if (problems.length)
    throw new ValidationFailedError(problems.map((p) => p.message).join('; '), problems);
  return {
    uuid: b.uuid as string,
    event: b.event as string,
    timestamp: typeof b.timestamp === 'number' ? b.timestamp : undefined,
    payload: b.payload as Record<string, unknown>,
  };
}

/**
 * Ingestion of Postal's webhooks (README "How mail flows"; docs/ARCHITECTURE.md "Postal
 * events"): verified by the controller, stored once per uuid, queued, and handed over to the
 * emails module's PostalEventsService, which decides what each event means. The sandbox
 * transport's events come in through `ingest` (the PostalEventIngress port).
 */
@Injectable()
export class WebhooksService implements PostalEventIngress {
  private readonly logger = new Logger(WebhooksService.name);
  private readonly received;

  constructor(
    private readonly repo: WebhookEventRepository,
    private readonly events: PostalEventsService,
    @InjectQueue(QueueName.Webhooks) private readonly queue: Queue,
    metrics: MetricsService,
  ) {
    this.received = metrics.counter('webhook_events_total', 'Postal webhook events received', [
      'event',
      'result',
    ]);
  }

  /** Stores the event idempotently by uuid and queues it; a retried delivery is not processed twice. */
  async receive(envelope: Envelope): Promise<{ duplicate: boolean }> {
    const stored = await this.repo.store(envelope.uuid, envelope.event, {
      event: envelope.event,
      timestamp: envelope.timestamp ?? null,
      payload: envelope.payload,
    });
    this.received.inc({
      event: envelope.event.slice(0, 40),
      result: stored.inserted ? 'new' : 'duplicate',
    });
    // Stored durably: answer without waiting for Redis (Postal waits 5 s at most). A failed
    // enqueue is logged and the outbox sweep queues unprocessed events later.
    if (!stored.processed) void this.enqueue(stored.id);
    return { duplicate: !stored.inserted };
  }

  /**
   * The PostalEventIngress port (the sandbox transport): stored like a webhook, with its
   * source, and handed over at once so that a transport's events apply in their order; when
   * that fails, the stored event is queued for the webhooks worker like any other.
   */
  async ingest(envelope: PostalEnvelope, source: PostalEventSource): Promise<void> {
    const stored = await this.repo.store(envelope.uuid, envelope.event, {
      event: envelope.event,
      timestamp: envelope.timestamp ?? null,
      payload: envelope.payload,
      source,
    });
    if (stored.processed) return;
    try {
      await this.process(stored.id, UNKNOWN_MESSAGE_RETRIES);
    } catch (err) {
      this.logger.warn(
        `${source} event ${envelope.uuid} stored, processing queued: ${(err as Error).message}`,
      );
      await this.enqueue(stored.id);
    }
  }

  /** Queues stored events' jobs; concurrent requests share one addBulk. Never throws. */
  private readonly enqueues = new MicroBatcher(
    async (ids: string[]) => {
      await this.enqueueMany(ids);
      return ids.map(() => undefined);
    },
    { maxBatchSize: 500, maxInFlight: 4 },
  );

  private enqueue(id: string): Promise<void> {
    return this.enqueues.submit(id);
  }

  private async enqueueMany(ids: string[]): Promise<void> {
    const jobs = ids.map((id) => {
      const data: JobPayloads[WebhooksJob.Process] = { webhookEventId: id };
      return { name: WebhooksJob.Process, data, opts: { jobId: `webhook-${id}` } };
    });
    try {
      await withTimeout(this.queue.addBulk(jobs), ENQUEUE_TIMEOUT_MS, 'Redis did not answer');
    } catch (err) {
      // Stored: the outbox sweep queues unprocessed events later.
      this.logger.warn(
        `${ids.length} webhook event(s) stored, queueing deferred: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Processes a stored event once. Throws UnknownMessageYetError to be retried a little later,
   * and lets a retryable failure (Postal unreachable) throw, so the job is retried; on the
   * job's `finalAttempt` the event falls back to its own fields instead.
   */
  async process(
    id: string,
    unknownRetries: number,
    opts: { finalAttempt?: boolean } = {},
  ): Promise<ProcessResult> {
    const stored = await this.repo.find(id);
    if (!stored) return { outcome: 'missing' };
    if (stored.processedAt) return { outcome: 'already_processed' };
    const payload = (stored.payload.payload ?? {}) as Record<string, unknown>;
    // `source` is set by `ingest` only: a webhook's own body is stored under `payload`.
    const source: PostalEventSource = stored.payload.source === 'sandbox' ? 'sandbox' : 'postal';
    const result = await this.events.process(stored.event, payload, {
      source,
      finalAttempt: opts.finalAttempt ?? true,
    });
    if (result.error === 'unknown_message' && unknownRetries < UNKNOWN_MESSAGE_RETRIES) {
      throw new UnknownMessageYetError(`no message matches webhook ${stored.uuid} yet`);
    }
    await this.repo.markProcessed(id, result.error ?? null);
    return result;
  }

  /** Re-queues stored events that never got processed (Redis was down when they arrived). */
  async sweepUnprocessed(): Promise<number> {
    const ids = await this.repo.findUnprocessed(120, 1000);
    await this.enqueueMany(ids);
    return ids.length;
  }
}
