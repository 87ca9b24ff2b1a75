import { Injectable } from '@nestjs/common';
import { formatTime } from 'src/modules/dashboard/dashboard-format';
import type { PageBase } from 'src/modules/dashboard/dashboard.service';
import type { WebhookEndpointResponseDto } from 'src/modules/event-webhooks/dto/webhook-endpoint-response.dto';
import { EventWebhooksService } from 'src/modules/event-webhooks/event-webhooks.service';

const statusClsOf = (status: string): string =>
  status === 'succeeded' ? 'tag-ok' : status === 'failed' ? 'tag-critical' : 'tag-warning';

const stateOf = (e: WebhookEndpointResponseDto): { state: string; stateCls: string } =>
  e.enabled
    ? e.health.failing_since
      ? { state: 'failing', stateCls: 'tag-warning' }
      : { state: 'healthy', stateCls: 'tag-ok' }
    : { state: `disabled (${e.disabled_reason ?? 'manual'})`, stateCls: 'tag-critical' };

/**
 * `/dashboard/event-webhooks` (README "Dashboard"): each endpoint with its health over the last
 * 24 hours, an endpoint's recent deliveries with their last attempt, and a delivery's attempts.
 */
@Injectable()
export class DashboardEventWebhookPages {
  constructor(private readonly webhooks: EventWebhooksService) {}

  async list(base: PageBase) {
    const rows = await this.webhooks.overview();
    return {
      ...base,
      empty: rows.length === 0,
      rows: rows.map((r) => ({
        id: r.endpoint.id,
        href: `/dashboard/event-webhooks/${r.endpoint.id}`,
        url: r.endpoint.url,
        description: r.endpoint.description ?? '',
        ...stateOf(r.endpoint),
        successRate: r.successRate === null ? '—' : `${r.successRate} %`,
        succeeded: r.succeeded,
        failed: r.failed,
        pending: r.pending,
        lastError: r.endpoint.health.last_error ?? '',
        lastFailure: r.endpoint.health.last_failure_at
          ? formatTime(r.endpoint.health.last_failure_at)
          : '',
      })),
    };
  }

  async one(base: PageBase, id: string) {
    const endpoint = await this.webhooks.get(id);
    const deliveries = await this.webhooks.recentDeliveries(id);
    return {
      ...base,
      pageTitle: `Event webhook ${endpoint.url}`,
      id: endpoint.id,
      url: endpoint.url,
      ...stateOf(endpoint),
      events: endpoint.events.join(', '),
      filters:
        [
          endpoint.stream ? `stream ${endpoint.stream}` : '',
          endpoint.campaign_ids ? `campaigns ${endpoint.campaign_ids.join(', ')}` : '',
          endpoint.tags ? `tags ${endpoint.tags.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ') || 'none',
      failingSince: endpoint.health.failing_since ? formatTime(endpoint.health.failing_since) : '',
      lastSuccess: endpoint.health.last_success_at
        ? formatTime(endpoint.health.last_success_at)
        : '—',
      lastError: endpoint.health.last_error ?? '',
      empty: deliveries.length === 0,
      deliveries: deliveries.map((d) => ({
        id: d.id,
        href: `/dashboard/event-webhooks/${endpoint.id}/deliveries/${d.id}`,
        webhookId: d.webhook_id,
        type: d.type,
        status: d.status,
        statusCls: statusClsOf(d.status),
        attempts: d.attempts,
        responseStatus: d.response_status === null ? '—' : String(d.response_status),
        durationMs: d.duration_ms === null ? '—' : `${d.duration_ms} ms`,
        error: d.error ?? '',
        responseBody: d.response_body ?? '',
        lastAttempt: d.last_attempt_at ? formatTime(d.last_attempt_at) : '—',
        nextAttempt: d.next_attempt_at ? formatTime(d.next_attempt_at) : '—',
      })),
    };
  }

  /** `/dashboard/event-webhooks/:id/deliveries/:deliveryId`: every attempt of one delivery. */
  async delivery(base: PageBase, id: string, deliveryId: string) {
    const d = await this.webhooks.getDelivery(id, deliveryId);
    const endpoint = await this.webhooks.get(id);
    return {
      ...base,
      pageTitle: `Delivery ${d.id}`,
      endpointHref: `/dashboard/event-webhooks/${endpoint.id}`,
      url: endpoint.url,
      id: d.id,
      webhookId: d.webhook_id,
      type: d.type,
      status: d.status,
      statusCls: statusClsOf(d.status),
      nextAttempt: d.next_attempt_at ? formatTime(d.next_attempt_at) : '—',
      empty: d.attempt_history.length === 0,
      attempts: d.attempt_history
        .map((a) => ({
          attempt: a.attempt,
          startedAt: formatTime(a.started_at),
          responseStatus: a.response_status === null ? '—' : String(a.response_status),
          durationMs: `${a.duration_ms} ms`,
          error: a.error ?? '',
          responseBody: a.response_body ?? '',
        }))
        .reverse(),
    };
  }
}
