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
/** Deliveries claimed per statement, per unit of the endpoint's concurrency (healthy endpoint). */
const CHUNK_PER_SLOT = 10;
/** ± this fraction of random jitter on every retry delay. */
const JITTER = 0.1;

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

  /** Sends the endpoint's due deliveries (the `EndpointDrain` job). */
  async drain(endpointId: string): Promise<DrainOutcome> {
    const lease = new EndpointLease(this.redis, endpointId, this.leaseTtlMs);
    if (!(await lease.acquire())) return { skipped: true, succeeded: 0, failed: 0 };
    const total: DrainOutcome = { succeeded: 0, failed: 0 };
    let sliceOver = false;
    let stop = false;
    try {
      const started = Date.now();
      let chunk = this.concurrency * CHUNK_PER_SLOT;
      while (!stop) {
        const endpoint = await this.endpoints.find(endpointId);
        if (!endpoint?.enabled) return total;
        if (Date.now() - started > SLICE_MS) {
          sliceOver = true;
          break;
        }
        const claimed = await this.deliveries.claimDue(endpointId, this.clock.now(), chunk);
        if (claimed.length === 0) break;
        const renewer = setInterval(
          () => void lease.renew().catch(() => false),
          this.leaseTtlMs / 3,
        );
        let r: { succeeded: number; failed: number; stop: boolean };
        try {
          r = await this.sendChunk(endpoint, claimed);
        } finally {
          clearInterval(renewer);
        }
        total.succeeded += r.succeeded;
        total.failed += r.failed;
        // A failing endpoint waits for its schedule instead of getting every due delivery now.
        stop = r.stop || r.succeeded === 0;
        chunk = this.concurrency * (r.failed > 0 ? 1 : CHUNK_PER_SLOT);
        if (!(await lease.renew())) break;
      }
    } finally {
      await lease.release().catch(() => undefined);
    }
    await this.scheduleNext(endpointId, sliceOver);
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

  private async sendChunk(
    endpoint: EndpointRow,
    claimed: ClaimedDelivery[],
  ): Promise<{ succeeded: number; failed: number; stop: boolean }> {
    const now = this.clock.now();
    const secrets = [endpoint.secret];
    if (
      endpoint.previous_secret &&
      (endpoint.previous_secret_expires_at?.getTime() ?? 0) > now.getTime()
    ) {
      secrets.push(endpoint.previous_secret);
    }
    const httpsMissing = this.config.isProduction && !endpoint.url.startsWith('https://');
    const records = await mapLimit(claimed, this.concurrency, (d) =>
      this.attempt(endpoint.url, secrets, d, httpsMissing),
    );
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
