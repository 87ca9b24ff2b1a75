import { STREAMS, type Stream } from 'src/common/streams';
import { Injectable, Logger } from '@nestjs/common';
import { NotFoundError, ValidationFailedError } from 'src/common/errors/app-error';
import { AppConfig } from 'src/config/app-config';
import { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';
import { StatsQueryDto } from 'src/modules/analytics/dto/stats-query.dto';
import type { StatsResponseDto } from 'src/modules/analytics/dto/stats-response.dto';
import { StatsService } from 'src/modules/analytics/stats.service';
import type { HourCounts } from 'src/modules/diagnostics/anomaly-rules';
import type { ReportResponseDto } from 'src/modules/diagnostics/dto/report.dto';
import { ReportsService } from 'src/modules/diagnostics/reports.service';
import { MessageListQueryDto } from 'src/modules/emails/dto/message-list.dto';
import type { MessageSummaryDto } from 'src/modules/emails/dto/message-list.dto';
import { EmailsService } from 'src/modules/emails/emails.service';
import {
  detailsLine,
  formatCount,
  formatPercent,
  formatTime,
  Level,
  MESSAGE_STATUSES,
  prettyJson,
  ruleValue,
  severityLevel,
  standing,
  stateClass,
  stateLabel,
} from 'src/modules/dashboard/dashboard-format';
import { DashboardMessageRepository } from 'src/modules/dashboard/dashboard-message.repository';
import { DashboardViews } from 'src/modules/dashboard/dashboard-views';
import {
  DashboardLogsQueryDto,
  LOGS_PAGE_SIZE,
  parseFilterTime,
} from 'src/modules/dashboard/dto/dashboard-logs-query.dto';
import { previewHtml, previewStyles } from 'src/modules/dashboard/email-preview';
import { buildOverviewChart, type ChartModel } from 'src/modules/dashboard/overview-chart';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { isHostname } from 'src/modules/rate-control/dto/rate-control-domain.dto';

/** What every page's layout needs. */
export interface PageBase {
  pageTitle: string;
  cssHref: string;
  nav: {
    overview: boolean;
    logs: boolean;
    feedback: boolean;
    domains: boolean;
    setup: boolean;
    webhooks: boolean;
  };
  notice: string | null;
  csrf: string;
}

/** Outcome of a form post, shown once on the page it redirects to. */
export const NOTICES = {
  acknowledged: (s: string) => `Report #${s} acknowledged.`,
  resolved: (s: string) => `Report #${s} resolved.`,
  paused: (s: string) => `Sending to ${s} is paused.`,
  resumed: (s: string) => `Sending to ${s} resumed.`,
  reset: (s: string) => `The sending rate of ${s} is back to its configured value.`,
  'paused-all': () => 'All sending is paused.',
  'resumed-all': () => 'All sending resumed.',
  'paused-stream': (s: string) => `Sending of ${s} mail is paused.`,
  'resumed-stream': (s: string) => `Sending of ${s} mail resumed.`,
} as const;
export type NoticeKind = keyof typeof NOTICES;

/** The notice text for `?notice=…&subject=…`, or null when either is not one we issue. */
export function noticeText(kind: unknown, subject: unknown): string | null {
  if (typeof kind !== 'string' || !Object.hasOwn(NOTICES, kind)) return null;
  const s = typeof subject === 'string' ? subject : '';
  const subjectOk = /^\d{1,10}$/.test(s) || isHostname(s);
  if (kind.endsWith('-all')) return NOTICES[kind as NoticeKind](s);
  if (kind.endsWith('-stream')) {
    return (STREAMS as readonly string[]).includes(s) ? NOTICES[kind as NoticeKind](s) : null;
  }
  return subjectOk ? NOTICES[kind as NoticeKind](s) : null;
}

type Panel<T> = ({ available: true } & T) | ({ available: false; reason: string } & T);

const TOP_DOMAINS = 10;
const OPEN_REPORTS_PER_STATUS = 20;

/**
 * Builds the view model of each dashboard page from the services that own the data: stats
 * (StatsService), reports (ReportsService), rate control (RateControlService), queue depths
 * (QueueMonitorService) and messages (EmailsService). Nothing here writes.
 */
@Injectable()
export class DashboardService {
  private readonly logger = new Logger(DashboardService.name);

  constructor(
    private readonly stats: StatsService,
    private readonly reports: ReportsService,
    private readonly rates: RateControlService,
    private readonly queues: QueueMonitorService,
    private readonly emails: EmailsService,
    private readonly messages: DashboardMessageRepository,
    private readonly views: DashboardViews,
    private readonly config: AppConfig,
  ) {}

  base(
    pageTitle: string,
    csrf: string,
    active: 'overview' | 'logs' | 'feedback' | 'domains' | 'setup' | 'webhooks' | null,
    notice: string | null = null,
  ): PageBase {
    return {
      pageTitle,
      cssHref: `/dashboard/assets/dashboard.css?v=${this.views.stylesheetVersion}`,
      nav: {
        overview: active === 'overview',
        logs: active === 'logs',
        feedback: active === 'feedback',
        domains: active === 'domains',
        setup: active === 'setup',
        webhooks: active === 'webhooks',
      },
      notice,
      csrf,
    };
  }

  /**
   * The overview. Each panel is read on its own: when Redis or a query fails, that panel says
   * so and the rest of the page still renders.
   */
  async overview(base: PageBase, now = new Date(), stream: Stream | null = null) {
    const [stats, depths, reports, rates] = await Promise.allSettled([
      this.stats.getStats(Object.assign(new StatsQueryDto(), { stream: stream ?? undefined }), now),
      this.queues.depths(),
      this.openReports(),
      this.rates.list(),
    ]);
    const failed = (what: string, r: PromiseSettledResult<unknown>): string => {
      const reason = r.status === 'rejected' ? (r.reason as Error) : null;
      this.logger.warn({ err: reason }, `dashboard: ${what} unavailable`);
      return `${what} could not be read just now; the cause is in the server log.`;
    };
    const statsFailure = stats.status === 'rejected' ? failed('Statistics', stats) : '';

    const rateState = rates.status === 'fulfilled' ? rates.value : null;
    const pausedDomains = new Set(rateState?.domains.filter((d) => d.paused).map((d) => d.domain));

    return {
      ...base,
      generatedAt: formatTime(now),
      // The figures' stream selector: links, so no script is needed (the CSP allows none).
      streamFilter: {
        label: stream === null ? 'All streams' : `${stream} stream`,
        domainsQuery: stream === null ? '' : `&stream=${stream}`,
        options: [null, ...STREAMS].map((s) => ({
          label: s === null ? 'All streams' : s === 'transactional' ? 'Transactional' : 'Broadcast',
          href: s === null ? '/dashboard' : `/dashboard?stream=${s}`,
          stream: s ?? 'all',
          current: s === stream,
        })),
      },
      sendingPaused: rateState?.paused_all ?? false,
      tiles:
        stats.status === 'fulfilled'
          ? { available: true as const, items: this.rateTiles(stats.value) }
          : { available: false as const, reason: statsFailure, items: [] },
      chart: this.chartPanel(stats, now, statsFailure),
      domains:
        stats.status === 'fulfilled'
          ? {
              available: true as const,
              rows: stats.value.by_domain.slice(0, TOP_DOMAINS).map((d) => {
                const bounce = standing('bounce_rate', d.sent > 0 ? d.bounce_rate : null);
                const complaint = standing('complaint_rate', d.sent > 0 ? d.complaint_rate : null);
                return {
                  domain: d.domain,
                  sent: formatCount(d.sent),
                  delivered: formatCount(d.delivered),
                  bounced: formatCount(d.bounced),
                  bounceRate: formatPercent(d.bounce_rate),
                  bounceLevel: bounce.level,
                  complaintRate: formatPercent(d.complaint_rate, 3),
                  complaintLevel: complaint.level,
                  paused: pausedDomains.has(d.domain),
                };
              }),
            }
          : { available: false as const, reason: statsFailure, rows: [] },
      queues:
        depths.status === 'fulfilled'
          ? {
              available: true as const,
              rows: Object.entries(depths.value).map(([name, d]) => ({
                name,
                waiting: formatCount(d.waiting + d.prioritized),
                active: formatCount(d.active),
                delayed: formatCount(d.delayed),
                failed: formatCount(d.failed),
                failedLevel: (d.failed > 0 ? 'critical' : 'neutral') as Level,
              })),
            }
          : { available: false as const, reason: failed('Queue depths', depths), rows: [] },
      reports:
        reports.status === 'fulfilled'
          ? {
              available: true as const,
              count: `${reports.value.reports.length}${reports.value.more ? '+' : ''}`,
              items: reports.value.reports.map((r) => this.reportItem(r)),
            }
          : { available: false as const, reason: failed('Reports', reports), count: '', items: [] },
      rateControl: rateState
        ? {
            available: true as const,
            pausedAll: rateState.paused_all,
            streams: STREAMS.map((stream) => ({
              stream,
              paused: rateState.paused_streams.includes(stream),
            })),
            domains: rateState.domains.map((d) => ({
              domain: d.domain,
              factor: `× ${d.factor.toFixed(2)}`,
              reduced: d.factor < 1,
              ratePerSec: `${d.rate_per_sec} /s`,
              expiresAt: formatTime(d.expires_at),
              paused: d.paused,
            })),
          }
        : {
            available: false as const,
            reason: failed('Rate control', rates),
            pausedAll: false,
            streams: [],
            domains: [],
          },
    };
  }

  /** `/dashboard/logs`: one keyset page of GET /api/v1/messages, newest first. */
  async logs(base: PageBase, q: DashboardLogsQueryDto) {
    const from = q.from !== undefined ? parseFilterTime(q.from) : null;
    const to = q.to !== undefined ? parseFilterTime(q.to) : null;
    if (from && to && from >= to) {
      throw new ValidationFailedError('from must be before to', [
        { field: 'from', message: 'from must be before to' },
      ]);
    }
    const limit = q.limit ?? LOGS_PAGE_SIZE;
    const page = await this.emails.listMessages(
      Object.assign(new MessageListQueryDto(), {
        status: q.status,
        recipient: q.recipient,
        campaign_id: q.campaign_id,
        domain: q.domain,
        stream: q.stream,
        from: from?.toISOString(),
        to: to?.toISOString(),
        limit,
        cursor: q.cursor,
      }),
    );
    const filters = {
      status: q.status ?? '',
      stream: q.stream ?? '',
      recipient: q.recipient ?? '',
      campaign_id: q.campaign_id ?? '',
      domain: q.domain ?? '',
      from: q.from ?? '',
      to: q.to ?? '',
    };
    const query = (cursor?: string): string => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filters)) if (v !== '') params.set(k, v);
      if (q.limit !== undefined) params.set('limit', String(q.limit));
      if (cursor) params.set('cursor', cursor);
      const s = params.toString();
      return s ? `/dashboard/logs?${s}` : '/dashboard/logs';
    };
    return {
      ...base,
      filters,
      filtered: Object.values(filters).some((v) => v !== ''),
      streamOptions: STREAMS.map((s) => ({ value: s, selected: s === q.stream })),
      statusOptions: MESSAGE_STATUSES.map((s) => ({
        value: s,
        label: stateLabel(s),
        selected: s === q.status,
      })),
      rows: page.data.map((m) => this.logRow(m)),
      empty: page.data.length === 0,
      paged: q.cursor !== undefined,
      firstHref: query(),
      nextHref: page.next_cursor ? query(page.next_cursor) : null,
    };
  }

  /**
   * One message: its fields, its event timeline and, for the sandbox, the rendered copy.
   * Returns the CSP hashes of the copy's inline styles with the model.
   */
  async message(base: PageBase, messageId: string) {
    const status = await this.emails.getStatus(messageId);
    const extras = await this.messages.extras(status.message_id);
    if (!extras) throw new NotFoundError(`Message ${messageId} not found`);
    const copy = extras.sandbox;
    // Inline images come from the authenticated attachment route (dashboardCsp allows it).
    const attachmentUrl = (position: number) =>
      `/dashboard/logs/${encodeURIComponent(status.message_id)}/attachments/${position}`;
    const inlineImages = new Map(
      (copy?.attachments ?? []).flatMap((a, i) =>
        a.contentId && a.contentType.startsWith('image/')
          ? [[a.contentId.toLowerCase(), attachmentUrl(i)] as const]
          : [],
      ),
    );
    const preview = copy?.html ? withInlineImages(previewHtml(copy.html), inlineImages) : null;
    const styles = preview ? previewStyles(preview) : { hashes: [], truncated: false };

    const field = (label: string, value: string | number | null, mono = false) => ({
      label,
      value: value === null || value === '' ? '—' : String(value),
      mono,
      empty: value === null || value === '',
    });
    const optional = (label: string, value: string | number | null, mono = false) =>
      value === null || value === '' ? [] : [field(label, value, mono)];
    const bounce =
      status.bounce_type || status.bounce_reason
        ? [status.bounce_type, status.bounce_reason].filter(Boolean).join(' · ')
        : null;

    const model = {
      ...base,
      messageId: status.message_id,
      recipient: status.recipient,
      status: { label: stateLabel(status.status), cls: stateClass(status.status) },
      subject: extras.subject ?? copy?.subject ?? '(no subject)',
      fields: [
        field('Message ID', status.message_id, true),
        field('Recipient', status.recipient),
        field('From', extras.sender),
        ...optional('Reply-To', extras.replyTo),
        field('Subject', extras.subject ?? copy?.subject ?? null),
        field('Campaign', status.campaign_id, true),
        field('Tag', status.tag, true),
        field('Template', status.template_id, true),
        ...optional('Batch', extras.batchId, true),
        field('Provider ID', extras.providerMessageId, true),
        ...optional('Bounce', bounce),
        ...optional('SMTP code', status.smtp_code, true),
        ...optional('Error', status.error_message),
        field('Retries', status.retry_count),
        ...optional('Next retry', status.next_retry_at ? formatTime(status.next_retry_at) : null),
        ...optional('Scheduled for', status.send_at ? formatTime(status.send_at) : null),
      ],
      times: [
        field('Created', formatTime(status.created_at)),
        field('Sent', status.sent_at ? formatTime(status.sent_at) : null),
        field('Delivered', status.delivered_at ? formatTime(status.delivered_at) : null),
        field('Opened', status.opened_at ? formatTime(status.opened_at) : null),
        field('Clicked', status.clicked_at ? formatTime(status.clicked_at) : null),
        field('Updated', formatTime(status.updated_at)),
      ],
      events: status.events.map((e) => ({
        label: stateLabel(e.type),
        cls: stateClass(e.type),
        at: formatTime(e.occurred_at),
        details: Object.entries(e.details ?? {})
          .filter(([, v]) => v !== null && v !== undefined && v !== '')
          .map(([k, v]) => ({
            key: k.replace(/_/g, ' '),
            value: typeof v === 'object' ? JSON.stringify(v) : String(v),
          })),
      })),
      request: {
        headers: Object.entries(extras.headers).map(([name, value]) => ({ name, value })),
        options: detailsLine(extras.options),
        variables: Object.keys(extras.variables).length > 0 ? prettyJson(extras.variables) : null,
      },
      sandbox: copy
        ? {
            subject: copy.subject,
            html: preview,
            text: copy.text,
            headers: Object.entries(copy.headers).map(([name, value]) => ({ name, value })),
            attachments: copy.attachments.map((a, i) => ({
              filename: a.filename,
              contentType: a.contentType,
              size: formatBytes(a.size),
              sha256: a.sha256,
              contentId: a.contentId,
              href: attachmentUrl(i),
            })),
            stylesTruncated: styles.truncated,
          }
        : null,
    };
    return { model, styleHashes: styles.hashes, images: inlineImages.size > 0 };
  }

  /** One diagnostic report in full, with the AI's analysis when there is one. */
  async report(base: PageBase, id: string) {
    if (!/^\d{1,10}$/.test(id)) throw new NotFoundError(`Report ${id} not found`);
    const r = await this.reports.get(Number(id));
    const ai = (r.context as { ai?: { status?: unknown; model?: unknown; reason?: unknown } }).ai;
    const aiStatus =
      ai?.status === 'ok'
        ? `Diagnosed by ${typeof ai.model === 'string' ? ai.model : 'Claude'}`
        : ai?.status === 'fallback'
          ? `AI diagnosis unavailable (${typeof ai.reason === 'string' ? ai.reason : 'unknown reason'}); the rule-based report stands`
          : null;
    return {
      ...base,
      ...this.reportItem(r),
      updated: formatTime(r.updated_at),
      resolvedAt: r.resolved_at ? formatTime(r.resolved_at) : null,
      resolutionNotes: r.resolution_notes,
      rootCause: r.root_cause,
      aiStatus,
      aiAnalysis: r.ai_analysis
        ? r.ai_analysis
            .split(/\n\s*\n/)
            .map((p) => p.trim())
            .filter(Boolean)
        : [],
      allActions: r.recommended_actions.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))),
      shouldPause: r.should_pause_sending,
      urgency: r.urgency,
      anomalies: r.anomalies.map((a) => {
        const x = (a ?? {}) as Record<string, unknown>;
        const text = (v: unknown): string =>
          v === null || v === undefined
            ? '—'
            : typeof v === 'object'
              ? JSON.stringify(v)
              : String(v);
        const sev = typeof x.severity === 'string' ? x.severity : '';
        return {
          type: stateLabel(text(x.type)),
          severity: sev || '—',
          level: severityLevel(sev),
          value: typeof x.value === 'number' ? `${x.value} %` : text(x.value),
          threshold: typeof x.threshold === 'number' ? `${x.threshold} %` : text(x.threshold),
          domain: x.domain ? text(x.domain) : 'all domains',
          message: typeof x.message === 'string' ? x.message : '',
        };
      }),
      stats: Object.entries(r.stats).map(([key, value]) => ({
        key: key.replace(/_/g, ' '),
        value:
          typeof value === 'number'
            ? formatCount(value)
            : typeof value === 'object'
              ? JSON.stringify(value)
              : String(value),
      })),
      context: Object.keys(r.context).length > 0 ? prettyJson(r.context) : null,
    };
  }

  /**
   * Pending and acknowledged reports, most severe first, then newest (at most 20 of each;
   * `more` says there are others).
   */
  private async openReports(): Promise<{ reports: ReportResponseDto[]; more: boolean }> {
    const [pending, acknowledged] = await Promise.all([
      this.reports.list({ status: 'pending', limit: OPEN_REPORTS_PER_STATUS }),
      this.reports.list({ status: 'acknowledged', limit: OPEN_REPORTS_PER_STATUS }),
    ]);
    const rank: Record<string, number> = { critical: 0, warning: 1, info: 2 };
    return {
      reports: [...pending.data, ...acknowledged.data].sort(
        (a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3) || b.id - a.id,
      ),
      more: pending.next_cursor !== null || acknowledged.next_cursor !== null,
    };
  }

  private reportItem(r: ReportResponseDto) {
    const actions = r.recommended_actions.map((a) =>
      typeof a === 'string' ? a : JSON.stringify(a),
    );
    return {
      id: r.id,
      href: `/dashboard/reports/${r.id}`,
      severity: r.severity,
      level: severityLevel(r.severity),
      type: stateLabel(r.report_type),
      status: stateLabel(r.status),
      statusCls: `rs-${r.status}`,
      summary: r.summary,
      created: formatTime(r.created_at),
      actions: actions.slice(0, 3),
      moreActions: Math.max(0, actions.length - 3),
      hasAi: r.ai_analysis !== null,
      canAcknowledge: r.status === 'pending',
      canResolve: r.status === 'pending' || r.status === 'acknowledged',
    };
  }

  private rateTiles(s: StatsResponseDto) {
    const t = s.totals;
    const counts: HourCounts = {
      domain: null,
      sent: t.sent,
      delivered: t.delivered,
      bounced_hard: t.bounced_hard,
      bounced_soft: t.bounced_soft,
      complained: t.complained,
    };
    const lowVolume = t.sent > 0 && t.sent < this.config.anomalyMinVolume;
    const ruleTile = (
      key: 'delivery_rate' | 'bounce_rate' | 'complaint_rate',
      label: string,
      basis: string,
      decimals: number,
    ) => {
      const value = ruleValue(key, counts);
      const st = standing(key, value);
      return {
        key,
        label,
        value: value === null ? '—' : formatPercent(value, decimals),
        level: st.level,
        note: st.thresholds,
        basis,
      };
    };
    const plainTile = (key: string, label: string, value: number, basis: string) => ({
      key,
      label,
      value: t.delivered > 0 ? formatPercent(value) : '—',
      level: 'neutral' as Level,
      note: 'no alert threshold',
      basis,
    });
    return [
      {
        key: 'sent',
        label: 'Sent',
        value: formatCount(t.sent),
        level: 'neutral' as Level,
        note: lowVolume
          ? `below ${formatCount(this.config.anomalyMinVolume)}: no anomaly alerts`
          : 'last 24 hours',
        basis: `${formatCount(t.delivered)} delivered`,
      },
      ruleTile('delivery_rate', 'Delivery rate', 'delivered of known outcomes', 2),
      ruleTile('bounce_rate', 'Bounce rate', `${formatCount(t.bounced)} bounced of sent`, 2),
      ruleTile(
        'complaint_rate',
        'Complaint rate',
        `${formatCount(t.complained)} complaints of sent`,
        3,
      ),
      plainTile(
        'open_rate',
        'Open rate',
        s.rates.open_rate,
        `${formatCount(t.opened)} opened of delivered`,
      ),
      plainTile(
        'click_rate',
        'Click rate',
        s.rates.click_rate,
        `${formatCount(t.clicked)} clicked of delivered`,
      ),
    ];
  }

  private chartPanel(
    stats: PromiseSettledResult<StatsResponseDto>,
    now: Date,
    failure: string,
  ): Panel<{ model: ChartModel; hours: Array<Record<string, string>> }> {
    const points =
      stats.status === 'fulfilled'
        ? stats.value.series.map((p) => ({
            at: p.at,
            sent: p.sent,
            delivered: p.delivered,
            bounced: p.bounced,
            complained: p.complained,
          }))
        : [];
    const model = buildOverviewChart(points, now);
    const hours = points
      .slice()
      .reverse()
      .map((p) => ({
        hour: formatTime(p.at).slice(0, 16),
        sent: formatCount(p.sent),
        delivered: formatCount(p.delivered),
        bounced: formatCount(p.bounced),
        complained: formatCount(p.complained),
      }));
    return stats.status === 'fulfilled'
      ? { available: true, model, hours }
      : { available: false, reason: failure, model, hours };
  }

  private logRow(m: MessageSummaryDto) {
    const detail = [
      m.bounce_reason ? stateLabel(m.bounce_reason) : null,
      m.smtp_code,
      m.error_message,
    ]
      .filter(Boolean)
      .join(' · ');
    return {
      href: `/dashboard/logs/${m.message_id}`,
      messageId: m.message_id,
      shortId: m.message_id.slice(0, 8),
      created: formatTime(m.created_at),
      recipient: m.recipient,
      status: stateLabel(m.status),
      statusCls: stateClass(m.status),
      campaign: m.campaign_id ?? '',
      tag: m.tag ?? '',
      detail,
    };
  }
}

/**
 * Points the preview's `cid:` images at the dashboard's attachment route (README "Dashboard"):
 * only `src` attributes of the serialized preview, only Content-IDs of stored image parts.
 */
function withInlineImages(html: string, images: ReadonlyMap<string, string>): string {
  if (images.size === 0) return html;
  return html.replace(/(\ssrc=")cid:([^"]*)"/gi, (whole, attr: string, cid: string) => {
    let id = cid;
    try {
      id = decodeURIComponent(cid);
    } catch {
      // Not percent-encoded.
    }
    const url = images.get(id.toLowerCase());
    return url ? `${attr}${url}"` : whole;
  });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
