import { Injectable } from '@nestjs/common';
import { NotFoundError, ValidationFailedError } from 'src/common/errors/app-error';
import { idCursor, keysetCursor } from 'src/common/pagination/keyset-cursor';
import { parsePositiveInt8 } from 'src/common/validation/db-int';
import { AppConfig } from 'src/config/app-config';
import { Clock } from 'src/infra/clock/clock';
import type {
  WebhookEndpointCreateDto,
  WebhookEndpointUpdateDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-write.dto';
import type {
  WebhookDeliveryListQueryDto,
  WebhookEndpointListQueryDto,
  WebhookReplayDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-query.dto';
import type {
  WebhookDeliveryAttemptDto,
  WebhookDeliveryDetailResponseDto,
  WebhookDeliveryListResponseDto,
  WebhookDeliveryResponseDto,
  WebhookEndpointCreatedResponseDto,
  WebhookEndpointListResponseDto,
  WebhookEndpointResponseDto,
  WebhookReplayResponseDto,
  WebhookSecretRotatedResponseDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-response.dto';
import { EVENT_TYPES } from 'src/modules/event-webhooks/event-types';
import { EventWebhooksProducer } from 'src/modules/event-webhooks/event-webhooks.producer';
import {
  AttemptRow,
  DeliveryRow,
  OutboundDeliveriesRepository,
} from 'src/modules/event-webhooks/outbound-deliveries.repository';
import {
  EndpointRow,
  WebhookEndpointsRepository,
} from 'src/modules/event-webhooks/webhook-endpoints.repository';
import { generateSecret } from 'src/modules/event-webhooks/webhook-signer';

/** README "Event webhooks": after rotate-secret the old secret signs alongside for 24 h. */
export const SECRET_OVERLAP_MS = 24 * 3600 * 1000;
const DEFAULT_LIMIT = 50;
/** Attempts a delivery's detail shows (the newest). */
const ATTEMPT_HISTORY_LIMIT = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ENDPOINT_CURSOR = keysetCursor<{ at: string; id: string }>({
  write: (k) => `${k.at}|${k.id}`,
  read: (text) => {
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/.exec(text);
    return m && UUID.test(m[2]) ? { at: m[1], id: m[2] } : null;
  },
});
const DELIVERY_CURSOR = idCursor('bigint', { prefix: 'd:' });

/** Per-endpoint health for the dashboard. */
export interface EndpointOverview {
  endpoint: WebhookEndpointResponseDto;
  succeeded: number;
  failed: number;
  pending: number;
  /** Percentage of finished deliveries (last 24 h) that succeeded; null with none. */
  successRate: number | null;
}

/**
 * Event webhook endpoints, their deliveries, retries and replays (README "Event webhooks").
 * The fan-out and the sending are EventFanoutService and WebhookDeliveryService.
 */
@Injectable()
export class EventWebhooksService {
  constructor(
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: OutboundDeliveriesRepository,
    private readonly producer: EventWebhooksProducer,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  async create(dto: WebhookEndpointCreateDto): Promise<WebhookEndpointCreatedResponseDto> {
    this.checkUrl(dto.url);
    const secret = generateSecret();
    const row = await this.endpoints.create({
      url: dto.url,
      description: dto.description ?? null,
      events: dto.events ?? null,
      stream: dto.stream ?? null,
      campaign_ids: dto.campaign_ids ?? null,
      tags: dto.tags ?? null,
      enabled: dto.enabled ?? true,
      secret,
    });
    return { ...toEndpoint(row), secret };
  }

  async list(query: WebhookEndpointListQueryDto): Promise<WebhookEndpointListResponseDto> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.cursor === undefined ? undefined : ENDPOINT_CURSOR.decode(query.cursor);
    const rows = await this.endpoints.list(limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toEndpoint),
      next_cursor:
        rows.length > limit && last
          ? ENDPOINT_CURSOR.encode({ at: last.cursor_at, id: last.id })
          : null,
    };
  }

  async get(id: string): Promise<WebhookEndpointResponseDto> {
    return toEndpoint(await this.mustFind(id));
  }

  async update(id: string, dto: WebhookEndpointUpdateDto): Promise<WebhookEndpointResponseDto> {
    await this.mustFind(id);
    if (dto.url !== undefined) this.checkUrl(dto.url);
    const row = await this.endpoints.update(id, {
      url: dto.url,
      description: dto.description,
      events: dto.events,
      stream: dto.stream,
      campaign_ids: dto.campaign_ids,
      tags: dto.tags,
      enabled: dto.enabled,
    });
    if (!row) throw notFound(id);
    // Enabled again: what waited is sent now.
    if (dto.enabled === true) await this.drainSoon(id);
    return toEndpoint(row);
  }

  async remove(id: string): Promise<void> {
    if (!UUID.test(id) || !(await this.endpoints.remove(id.toLowerCase()))) throw notFound(id);
  }

  async rotateSecret(id: string): Promise<WebhookSecretRotatedResponseDto> {
    await this.mustFind(id);
    const secret = generateSecret();
    const expires = new Date(this.clock.now().getTime() + SECRET_OVERLAP_MS);
    const row = await this.endpoints.rotateSecret(id.toLowerCase(), secret, expires);
    if (!row) throw notFound(id);
    return { id: row.id, secret, previous_secret_expires_at: expires.toISOString() };
  }

  async listDeliveries(
    id: string,
    query: WebhookDeliveryListQueryDto,
  ): Promise<WebhookDeliveryListResponseDto> {
    const endpoint = await this.mustFind(id);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor === undefined ? undefined : DELIVERY_CURSOR.decode(query.cursor);
    const rows = await this.deliveries.list(endpoint.id, limit + 1, {
      before,
      status: query.status,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toDelivery),
      next_cursor: rows.length > limit && last ? DELIVERY_CURSOR.encode(String(last.id)) : null,
    };
  }

  /** One delivery with its attempts, oldest first. */
  async getDelivery(id: string, deliveryId: string): Promise<WebhookDeliveryDetailResponseDto> {
    const endpoint = await this.mustFind(id);
    const did = parsePositiveInt8(deliveryId);
    const row = did ? await this.deliveries.find(endpoint.id, did) : null;
    if (!row) throw new NotFoundError(`Delivery ${deliveryId} not found`);
    const attempts = await this.deliveries.attempts(row.id, ATTEMPT_HISTORY_LIMIT);
    return { ...toDelivery(row), attempt_history: attempts.map(toAttempt) };
  }

  async retryDelivery(id: string, deliveryId: string): Promise<WebhookDeliveryResponseDto> {
    const endpoint = await this.mustFind(id);
    const did = parsePositiveInt8(deliveryId);
    const row = did ? await this.deliveries.retryNow(endpoint.id, did, this.clock.now()) : null;
    if (!row) throw new NotFoundError(`Delivery ${deliveryId} not found`);
    await this.drainSoon(endpoint.id);
    return toDelivery(row);
  }

  async replay(id: string, dto: WebhookReplayDto): Promise<WebhookReplayResponseDto> {
    const endpoint = await this.mustFind(id);
    const now = this.clock.now();
    const since = new Date(dto.since);
    const until = dto.until ? new Date(dto.until) : now;
    if (!(since < until)) {
      throw new ValidationFailedError('since must be before until', [
        { field: 'since', message: 'since must be before until (default: now)' },
      ]);
    }
    const replayed = await this.deliveries.replay(
      endpoint.id,
      endpoint,
      { since, until, types: dto.event_types ?? null },
      now,
    );
    if (replayed > 0) await this.drainSoon(endpoint.id);
    return { replayed };
  }

  /** Every endpoint with its last 24 hours of deliveries (the dashboard page). */
  async overview(): Promise<EndpointOverview[]> {
    const rows = await this.endpoints.list(500);
    const health = await this.deliveries.health(
      new Date(this.clock.now().getTime() - 24 * 3600_000),
    );
    return rows.map((r) => {
      const h = health.get(r.id) ?? { succeeded: 0, failed: 0, pending: 0 };
      const finished = h.succeeded + h.failed;
      return {
        endpoint: toEndpoint(r),
        ...h,
        successRate: finished ? Math.round((h.succeeded / finished) * 1000) / 10 : null,
      };
    });
  }

  /** The newest deliveries of one endpoint (the dashboard page). */
  async recentDeliveries(id: string, limit = 50): Promise<WebhookDeliveryResponseDto[]> {
    const endpoint = await this.mustFind(id);
    return (await this.deliveries.list(endpoint.id, limit, {})).map(toDelivery);
  }

  private async drainSoon(endpointId: string): Promise<void> {
    await this.producer.enqueueDrains([{ endpointId, key: `api${Date.now()}` }]);
  }

  private async mustFind(id: string): Promise<EndpointRow> {
    const row = UUID.test(id) ? await this.endpoints.find(id.toLowerCase()) : null;
    if (!row) throw notFound(id);
    return row;
  }

  /** README "Event webhooks": https in production. */
  private checkUrl(url: string): void {
    if (this.config.isProduction && !url.startsWith('https://')) {
      throw new ValidationFailedError('url must use https', [
        { field: 'url', message: 'url must be an https URL in production' },
      ]);
    }
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`Webhook endpoint ${id} not found`);
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toEndpoint(r: EndpointRow): WebhookEndpointResponseDto {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: r.events ?? [...EVENT_TYPES],
    stream: r.stream,
    campaign_ids: r.campaign_ids,
    tags: r.tags,
    enabled: r.enabled,
    disabled_reason: r.disabled_reason,
    previous_secret_expires_at: r.previous_secret ? iso(r.previous_secret_expires_at) : null,
    health: {
      failing_since: iso(r.failing_since),
      last_success_at: iso(r.last_success_at),
      last_failure_at: iso(r.last_failure_at),
      last_error: r.last_error,
    },
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

function toAttempt(a: AttemptRow): WebhookDeliveryAttemptDto {
  return {
    attempt: a.attempt,
    started_at: a.started_at.toISOString(),
    duration_ms: a.duration_ms,
    response_status: a.response_status,
    response_body: a.response_body,
    error: a.error,
  };
}

function toDelivery(r: DeliveryRow): WebhookDeliveryResponseDto {
  return {
    id: String(r.id),
    webhook_id: `msg_${r.event_id.replace(/-/g, '')}`,
    type: r.type,
    status: r.status,
    attempts: r.attempts,
    response_status: r.response_status,
    response_body: r.response_body,
    duration_ms: r.duration_ms,
    error: r.error,
    last_attempt_at: iso(r.last_attempt_at),
    next_attempt_at:
      r.status === 'pending' || r.status === 'sending' ? iso(r.next_attempt_at) : null,
    created_at: r.created_at.toISOString(),
  };
}
