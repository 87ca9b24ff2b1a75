import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { Clock } from 'src/infra/clock/clock';
import { RedisService } from 'src/infra/redis/redis.service';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { EndpointLease } from 'src/modules/event-webhooks/endpoint-lease';
import { EventWebhooksProducer } from 'src/modules/event-webhooks/event-webhooks.producer';
import {
  AttemptRecord,
  ClaimedDelivery,
  OutboundDeliveriesRepository,
} from 'src/modules/event-webhooks/outbound-deliveries.repository';
import type { EndpointDisabledReason } from 'src/modules/event-webhooks/webhook-endpoint.entity';
import {
  EndpointRow,
  WebhookEndpointsRepository,
} from 'src/modules/event-webhooks/webhook-endpoints.repository';
import { WebhookHttpClient } from 'src/modules/event-webhooks/webhook-http.client';
import { WebhookSigner } from 'src/modules/event-webhooks/webhook-signer';

/** README "Event webhooks": an endpoint failing this long is disabled, with an alert. */
export const DISABLE_AFTER_FAILING_MS = 3 * 24 * 3600 * 1000;
/** A drain hands its worker slot back after this long (then continues at the queue's end). */
const SLICE_MS = 20_000;
/**
 * A healthy endpoint's chunk is sized to take about this long to send, from the last chunk's
 * mean request time: few claims and few waits for a chunk's last answer on a fast endpoint,
 * small chunks (well within the claim's lease) on a slow one.
 */
const CHUNK_TARGET_MS = 2000;
/** At most this many deliveries per unit of the endpoint's concurrency in one chunk. */
const MAX_CHUNK_PER_SLOT = 50;
/** ± this fraction of random jitter on every retry delay. */
const JITTER = 0.1;
/** Events deleted per statement by the retention prune (with their deliveries and attempts). */
const PRUNE_BATCH = 1000;

interface ChunkOutcome {
  succeeded: number;
  failed: number;
  /** The endpoint was disabled (410, or failing for three days). */
  stop: boolean;
}

export interface DrainOutcome {
  /** Another process was draining this endpoint. */
  skipped?: boolean;
  succeeded: number;
  failed: number;
}

/**
 * Sends event webhooks (README "Event webhooks"; docs/ARCHITECTURE.md "Event webhooks"). A
 * drain takes one endpoint's lease (one drain per endpoint anywhere), claims its due
 * deliveries a chunk at a time and sends them with at most WEBHOOK_ENDPOINT_CONCURRENCY in
 * flight, records the outcomes set-based, and after SLICE_MS gives its worker slot back by
 * queueing its continuation behind the other endpoints' drains: a slow endpoint holds one slot
 * and its own concurrency, never the others'. A 2xx is success; anything else (3xx included:
 * redirects are not followed) is retried on the WEBHOOK_RETRY_SCHEDULE, then failed; a 410
 * disables the endpoint at once, three days of failures disable it with an alert.
 */
@Injectable()
export class WebhookDeliveryService {
  private readonly logger = new Logger(WebhookDeliveryService.name);
  private readonly signer = new WebhookSigner();
  private readonly schedule: readonly number[];
  private readonly concurrency: number;
  private readonly leaseTtlMs: number;

  constructor(
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: OutboundDeliveriesRepository,
    private readonly http: WebhookHttpClient,
    private readonly producer: EventWebhooksProducer,
    private readonly notifications: NotificationsService,
    private readonly redis: RedisService,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {
    this.schedule = config.eventWebhooks.retryScheduleMs;
    this.concurrency = config.eventWebhooks.endpointConcurrency;
    // A chunk of a failing endpoint takes at most two timeouts; the lease is renewed between.
    this.leaseTtlMs = 4 * config.eventWebhooks.timeoutMs + 10_000;
  }

  /**
   * Sends the endpoint's due deliveries (the `EndpointDrain` job). A healthy endpoint's drain
   * is a pipeline: while a chunk is being sent, the next one is claimed and the previous one's
   * outcomes are recorded; a chunk with a failure is recorded before anything else goes out.
   */
  async drain(endpointId: string): Promise<DrainOutcome> {
    const lease = new EndpointLease(this.redis, endpointId, this.leaseTtlMs);
    if (!(await lease.acquire())) return { skipped: true, succeeded: 0, failed: 0 };
    const total: DrainOutcome = { succeeded: 0, failed: 0 };
    const renewer = setInterval(() => void lease.renew().catch(() => false), this.leaseTtlMs / 3);
    let sliceOver = false;
    let disabled = false;
    let ahead: Promise<ClaimedDelivery[]> | null = null;
    let recording: Promise<unknown> | null = null;
    try {
      const started = Date.now();
      let endpoint = await this.endpoints.find(endpointId);
      // The first chunk probes (one request per slot): a dead endpoint costs one round of
      // timeouts; a healthy one then gets chunks of about CHUNK_TARGET_MS of work.
      let chunk = this.concurrency;
      let claimed = endpoint?.enabled
        ? await this.deliveries.claimDue(endpointId, this.clock.now(), chunk)
        : [];
      while (endpoint?.enabled && claimed.length > 0) {
        const current: EndpointRow = endpoint;
        const healthy = chunk > this.concurrency && Date.now() - started < SLICE_MS;
        ahead = healthy
          ? handled(this.deliveries.claimDue(endpointId, this.clock.now(), chunk))
          : null;
        // Still enabled, still ours: checked while the chunk is sent, acted on after it.
        const checks = handled(Promise.all([this.endpoints.find(endpointId), lease.renew()]));
        const records = await this.sendAll(current, claimed);
        // One chunk's outcomes are recorded at a time, in order.
        if (recording) await recording;
        recording = null;
        let r: ChunkOutcome;
        if (records.every((x) => x.status === 'succeeded')) {
          recording = handled(this.recordSuccesses(current.id, records));
          r = { succeeded: records.length, failed: 0, stop: false };
        } else {
          r = await this.recordChunk(current, records);
        }
        total.succeeded += r.succeeded;
        total.failed += r.failed;
        const [fresh, renewed] = await checks;
        endpoint = fresh;
        // A failing endpoint waits for its schedule instead of getting every due delivery now.
        if (r.stop || r.succeeded === 0 || !renewed || !endpoint?.enabled) break;
        if (Date.now() - started > SLICE_MS) {
          sliceOver = true;
          break;
        }
        chunk = this.concurrency * (r.failed > 0 ? 1 : perSlot(records));
        claimed = ahead
          ? await ahead
          : await this.deliveries.claimDue(endpointId, this.clock.now(), chunk);
        ahead = null;
      }
      disabled = !endpoint?.enabled;
      if (recording) await recording;
    } finally {
      clearInterval(renewer);
      // Claimed ahead but not sent: due again at once (for the next drain).
      if (ahead) {
        const unsent = await ahead.catch(() => []);
        await this.deliveries.unclaim(unsent, this.clock.now()).catch(() => undefined);
      }
      await lease.release().catch(() => undefined);
    }
    if (!disabled) await this.scheduleNext(endpointId, sliceOver);
    return total;
  }

  /** Drains every enabled endpoint with due deliveries (the `DeliveriesSweep` job). */
  async sweep(tick: string): Promise<number> {
    const ids = await this.deliveries.endpointsWithDue(this.clock.now());
    const key = `s${tick.replace(/\D/g, '')}`;
    await this.producer.enqueueDrains(ids.map((endpointId) => ({ endpointId, key })));
    return ids.length;
  }

  /**
   * The daily retention prune (the `DeliveriesPrune` job): events older than
   * EVENT_WEBHOOK_RETENTION_DAYS go with their deliveries and attempts, a batch per statement,
   * except those with a delivery still pending or being sent. Answers how many events went.
   */
  async prune(batchSize = PRUNE_BATCH): Promise<number> {
    const before = new Date(
      this.clock.now().getTime() - this.config.eventWebhooks.retentionDays * 24 * 3600_000,
    );
    let total = 0;
    for (;;) {
      const n = await this.deliveries.pruneEvents(before, batchSize);
      total += n;
      if (n < batchSize) break;
    }
    if (total > 0) this.logger.log(`event webhooks: pruned ${total} event(s) past retention`);
    return total;
  }

  /**
   * After a drain (its lease released): what came due meanwhile is drained at once, the next
   * retry when it falls due; a drain whose slice ran out continues behind the others.
   */
  private async scheduleNext(endpointId: string, sliceOver: boolean): Promise<void> {
    if (sliceOver) {
      await this.producer.enqueueDrains([{ endpointId, key: `c${Date.now()}` }]);
      return;
    }
    const next = await this.deliveries.nextDue(endpointId);
    if (!next) return;
    const delayMs = next.getTime() - this.clock.now().getTime();
    await this.producer.enqueueDrains([
      delayMs > 0
        ? { endpointId, key: `at${next.getTime()}`, delayMs }
        : { endpointId, key: `n${Date.now()}` },
    ]);
  }

  /** POSTs a chunk, at most WEBHOOK_ENDPOINT_CONCURRENCY at a time; answers its outcomes. */
  private sendAll(endpoint: EndpointRow, claimed: ClaimedDelivery[]): Promise<AttemptRecord[]> {
    const now = this.clock.now();
    const secrets = [endpoint.secret];
    if (
      endpoint.previous_secret &&
      (endpoint.previous_secret_expires_at?.getTime() ?? 0) > now.getTime()
    ) {
      secrets.push(endpoint.previous_secret);
    }
    const httpsMissing = this.config.isProduction && !endpoint.url.startsWith('https://');
    return mapLimit(claimed, this.concurrency, (d) =>
      this.attempt(endpoint.url, secrets, d, httpsMissing),
    );
  }

  /** A chunk that all succeeded: its attempts, and the endpoint's last success. */
  private async recordSuccesses(endpointId: string, records: AttemptRecord[]): Promise<void> {
    await this.deliveries.recordAttempts(records);
    await this.endpoints.recordSuccess(endpointId, this.clock.now());
  }

  /** A chunk with failures: its attempts, the endpoint's health, and a 410 or 3 days disable it. */
  private async recordChunk(
    endpoint: EndpointRow,
    records: AttemptRecord[],
  ): Promise<ChunkOutcome> {
    await this.deliveries.recordAttempts(records);
    const succeeded = records.filter((r) => r.status === 'succeeded').length;
    const failures = records.filter((r) => r.status !== 'succeeded');
    const at = this.clock.now();
    if (succeeded > 0) await this.endpoints.recordSuccess(endpoint.id, at);
    if (failures.length === 0) return { succeeded, failed: 0, stop: false };

    const last = failures[failures.length - 1];
    const since = await this.endpoints.recordFailure(
      endpoint.id,
      at,
      last.error ?? `HTTP ${last.responseStatus}`,
    );
    if (failures.some((r) => r.responseStatus === 410)) {
      await this.disable(endpoint, 'gone', 'it answered 410 Gone');
      return { succeeded, failed: failures.length, stop: true };
    }
    if (since && at.getTime() - since.getTime() >= DISABLE_AFTER_FAILING_MS) {
      await this.disable(endpoint, 'failing', `every attempt failed since ${since.toISOString()}`);
      return { succeeded, failed: failures.length, stop: true };
    }
    return { succeeded, failed: failures.length, stop: false };
  }

  private async attempt(
    url: string,
    secrets: string[],
    d: ClaimedDelivery,
    httpsMissing: boolean,
  ): Promise<AttemptRecord> {
    const startedAt = this.clock.now();
    const res = httpsMissing
      ? { status: null, body: null, durationMs: 0, error: 'https is required in production' }
      : await this.http.post(
          url,
          this.signer.headers(secrets, d.msgId, new Date(), d.body),
          d.body,
        );
    const at = this.clock.now();
    const base = {
      id: d.id,
      startedAt,
      at,
      responseStatus: res.status,
      responseBody: res.body,
      durationMs: res.durationMs,
    };
    if (res.status !== null && res.status >= 200 && res.status < 300) {
      return { ...base, status: 'succeeded', nextAttemptAt: null, error: null };
    }
    const error =
      res.error ??
      (res.status !== null && res.status >= 300 && res.status < 400
        ? `HTTP ${res.status} (redirects are not followed)`
        : `HTTP ${res.status}`);
    // attempts counts those before this one; the schedule holds the delays between them.
    const delay = res.status === 410 ? undefined : this.schedule[d.attempts];
    if (delay === undefined) return { ...base, status: 'failed', nextAttemptAt: null, error };
    const jittered = delay * (1 - JITTER + Math.random() * 2 * JITTER);
    return {
      ...base,
      status: 'pending',
      nextAttemptAt: new Date(at.getTime() + jittered),
      error,
    };
  }

  private async disable(
    endpoint: EndpointRow,
    reason: EndpointDisabledReason,
    why: string,
  ): Promise<void> {
    if (!(await this.endpoints.disable(endpoint.id, reason))) return;
    this.logger.warn(
      { endpointId: endpoint.id, reason },
      `event webhook endpoint disabled: ${why}`,
    );
    await this.notifications.alert({
      key: `event-webhook-disabled:${endpoint.id}`,
      severity: 'warning',
      title: 'Event webhook endpoint disabled',
      text: `${endpoint.url} was disabled because ${why}. Fix the receiver, enable the endpoint again (PATCH enabled: true) and replay what it missed.`,
      fields: { endpoint: endpoint.id, url: endpoint.url, reason },
      url: `${this.config.publicUrl}/dashboard/event-webhooks`,
    });
  }
}

/**
 * Deliveries per slot in a healthy endpoint's next chunk: as many as its requests, at the
 * last chunk's mean duration, fit in CHUNK_TARGET_MS; at least 2 (the chunk must grow past the
 * probe for the drain to count as healthy), at most MAX_CHUNK_PER_SLOT.
 */
export function perSlot(records: readonly Pick<AttemptRecord, 'durationMs'>[]): number {
  const meanMs = records.reduce((n, r) => n + r.durationMs, 0) / Math.max(1, records.length);
  return Math.min(
    MAX_CHUNK_PER_SLOT,
    Math.max(2, Math.floor(CHUNK_TARGET_MS / Math.max(1, meanMs))),
  );
}

/**
 * Marks a promise whose rejection is awaited later as handled now, so that it does not count
 * as an unhandled rejection in between.
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Maps with at most `limit` calls in flight, keeping the order. */
async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
