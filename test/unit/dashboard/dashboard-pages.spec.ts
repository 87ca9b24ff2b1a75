import { NotFoundError } from 'src/common/errors/app-error';
import type { AppConfig } from 'src/config/app-config';
import type { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';
import type { StatsService } from 'src/modules/analytics/stats.service';
import type { DashboardMessageRepository } from 'src/modules/dashboard/dashboard-message.repository';
import { DashboardViews } from 'src/modules/dashboard/dashboard-views';
import { DashboardService } from 'src/modules/dashboard/dashboard.service';
import type { ReportResponseDto } from 'src/modules/diagnostics/dto/report.dto';
import type { ReportsService } from 'src/modules/diagnostics/reports.service';
import type { EmailsService } from 'src/modules/emails/emails.service';
import type { RateControlService } from 'src/modules/rate-control/rate-control.service';

const NOW = new Date('2026-11-28T07:20:00Z');
const HOUR_MS = 3600_000;

const report = (over: Partial<ReportResponseDto> = {}): ReportResponseDto => ({
  id: 7,
  report_type: 'ai_triggered',
  severity: 'critical',
  status: 'pending',
  summary: 'Bounce <rate> & more',
  root_cause: null,
  ai_analysis: null,
  recommended_actions: ['One', 'Two', 'Three', 'Four'],
  should_pause_sending: false,
  urgency: null,
  anomalies: [],
  stats: {},
  context: {},
  resolved_at: null,
  resolution_notes: null,
  created_at: NOW.toISOString(),
  updated_at: NOW.toISOString(),
  ...over,
});

const series = Array.from({ length: 24 }, (_, i) => ({
  at: new Date(Date.parse('2026-11-28T07:00:00Z') - (23 - i) * HOUR_MS).toISOString(),
  sent: 100,
  delivered: 95,
  bounced: 3,
  bounced_hard: 2,
  bounced_soft: 1,
  complained: 0,
  opened: 30,
  clicked: 4,
}));

/** Collaborators answering with data, or all failing (Redis and PostgreSQL away). */
function collaborators(failing: boolean) {
  const down = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
  const stats: Pick<StatsService, 'getStats'> = {
    getStats: failing
      ? down
      : async () => ({
          totals: {
            sent: 2400,
            delivered: 2280,
            bounced: 72,
            bounced_hard: 48,
            bounced_soft: 24,
            complained: 0,
            opened: 720,
            clicked: 96,
          },
          rates: {
            delivery_rate: 95,
            bounce_rate: 3,
            complaint_rate: 0,
            open_rate: 31.58,
            click_rate: 4.21,
          },
          by_stream: {
            transactional: {
              totals: {
                sent: 400,
                delivered: 380,
                bounced: 12,
                bounced_hard: 8,
                bounced_soft: 4,
                complained: 0,
                opened: 120,
                clicked: 16,
              },
              rates: {
                delivery_rate: 95,
                bounce_rate: 3,
                complaint_rate: 0,
                open_rate: 31.58,
                click_rate: 4.21,
              },
            },
            broadcast: {
              totals: {
                sent: 2000,
                delivered: 1900,
                bounced: 60,
                bounced_hard: 40,
                bounced_soft: 20,
                complained: 0,
                opened: 600,
                clicked: 80,
              },
              rates: {
                delivery_rate: 95,
                bounce_rate: 3,
                complaint_rate: 0,
                open_rate: 31.58,
                click_rate: 4.21,
              },
            },
          },
          series,
          by_domain: [
            {
              domain: 'gmail.com',
              sent: 2400,
              delivered: 2280,
              bounced: 72,
              complained: 0,
              bounce_rate: 3,
              complaint_rate: 0,
            },
          ],
          top_errors: [],
        }),
  };
  const queues: Pick<QueueMonitorService, 'depths'> = {
    depths: failing
      ? down
      : async () => ({
          'email-delivery': { waiting: 1200, active: 50, delayed: 3, failed: 2, prioritized: 0 },
          webhooks: { waiting: 0, active: 0, delayed: 0, failed: 0, prioritized: 0 },
          analytics: { waiting: 0, active: 0, delayed: 0, failed: 0, prioritized: 1 },
          domains: { waiting: 0, active: 0, delayed: 0, failed: 0, prioritized: 0 },
          'event-webhooks': { waiting: 0, active: 0, delayed: 0, failed: 0, prioritized: 0 },
        }),
  };
  const reports: Pick<ReportsService, 'list' | 'get'> = {
    list: failing
      ? down
      : async (q) => ({
          data:
            q.status === 'pending'
              ? [report()]
              : [report({ id: 3, severity: 'warning', status: 'acknowledged' })],
          next_cursor: null,
        }),
    get: async (id) => {
      if (id !== 7) throw new NotFoundError(`Report ${id} not found`);
      return report({
        ai_analysis: 'First.\n\nSecond <b>.',
        context: { ai: { status: 'fallback', reason: 'timeout' } },
        anomalies: [
          { type: 'bounce_rate', severity: 'critical', value: 12, threshold: 10, domain: null },
          'odd',
        ],
        stats: { sent: 1000, nested: { a: 1 } },
        should_pause_sending: true,
        urgency: 'high',
      });
    },
  };
  const rates: Pick<RateControlService, 'list'> = {
    list: failing
      ? down
      : async () => ({
          domains: [
            {
              domain: 'gmail.com',
              factor: 0.5,
              rate_per_sec: 10,
              expires_at: NOW.toISOString(),
              paused: true,
            },
          ],
          paused_all: true,
          paused_streams: [],
        }),
  };
  return { stats, queues, reports, rates };
}

function service(
  failing: boolean,
  emails: Partial<EmailsService> = {},
  extras: DashboardMessageRepository['extras'] = async () => null,
) {
  const c = collaborators(failing);
  const views = new DashboardViews();
  return {
    views,
    dashboard: new DashboardService(
      c.stats as StatsService,
      c.reports as ReportsService,
      c.rates as RateControlService,
      c.queues as QueueMonitorService,
      emails as EmailsService,
      { extras } as DashboardMessageRepository,
      views,
      { anomalyMinVolume: 100 } as AppConfig,
    ),
  };
}

describe(DashboardService.name, () => {
  describe('overview', () => {
    it('renders every panel from the services, escaped', async () => {
      const { dashboard, views } = service(false);
      const html = views.render(
        'overview',
        await dashboard.overview(dashboard.base('Overview', 'tok', 'overview', 'Done.'), NOW),
      );
      expect(html).toContain('data-sending="paused"');
      expect(html).toContain('<tr data-queue="email-delivery">');
      expect(html).toContain('1,200');
      expect(html).toContain('Bounce &lt;rate&gt; &amp; more');
      expect(html).toContain('1 more…');
      expect(html).toContain('<tr data-domain="gmail.com" data-paused="true">');
      expect(html).toContain('<p class="notice" role="status">Done.</p>');
      expect(html).toContain('value="tok"');
      // Most severe first: the critical pending report before the acknowledged warning.
      expect(html.indexOf('data-report-id="7"')).toBeLessThan(html.indexOf('data-report-id="3"'));
      // Delivery over known outcomes: 2,280 of 2,352, not of 2,400 sent.
      expect(html).toMatch(/data-rate="delivery_rate" data-level="ok">[\s\S]*?96.94 %/);
    });

    it('still renders when every backing service fails, saying which parts are missing', async () => {
      const { dashboard, views } = service(true);
      const html = views.render(
        'overview',
        await dashboard.overview(dashboard.base('Overview', 'tok', 'overview'), NOW),
      );
      expect(html.match(/class="unavailable"/g)).toHaveLength(6);
      expect(html).toContain('Queue depths could not be read just now');
      expect(html).not.toContain('ECONNREFUSED');
      expect(html).not.toContain('<svg class="chart"');
    });
  });

  describe('report', () => {
    it('renders the full report, the fallback note and odd anomaly entries', async () => {
      const { dashboard, views } = service(false);
      const html = views.render(
        'report',
        await dashboard.report(dashboard.base('Report', 'tok', 'overview'), '7'),
      );
      expect(html).toContain('<p>Second &lt;b&gt;.</p>');
      expect(html).toContain('AI diagnosis unavailable (timeout)');
      expect(html).toContain('The diagnosis recommends pausing sending');
      expect(html).toContain('all domains');
      expect(html).toContain('{&quot;a&quot;:1}');
    });

    it('is a 404 for ids that cannot be reports', async () => {
      const { dashboard } = service(false);
      for (const id of ['x', '-1', '1e3', '12345678901']) {
        await expect(dashboard.report(dashboard.base('R', '', null), id)).rejects.toBeInstanceOf(
          NotFoundError,
        );
      }
      await expect(dashboard.report(dashboard.base('R', '', null), '8')).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });
  });

  describe('message', () => {
    it('renders a non-sandbox message without a preview and allows no inline style', async () => {
      const { dashboard, views } = service(
        false,
        {
          getStatus: async () => ({
            message_id: '6f1c2a4e-0000-4000-8000-000000000001',
            status: 'failed',
            recipient: 'a@b.example',
            from: 'Shop <news@shop.example>',
            subject: null,
            batch_id: null,
            campaign_id: null,
            tag: null,
            stream: 'transactional',
            template_id: null,
            bounce_type: null,
            bounce_reason: null,
            smtp_code: null,
            error_message: 'postal: NoRecipients',
            retry_count: 0,
            next_retry_at: null,
            send_at: null,
            sent_at: null,
            delivered_at: null,
            opened_at: null,
            clicked_at: null,
            created_at: NOW.toISOString(),
            updated_at: NOW.toISOString(),
            recipients: [],
            events: [{ type: 'failed', occurred_at: NOW.toISOString(), details: { error: 'x' } }],
          }),
        },
        async () => ({
          sender: 'S <s@x.example>',
          subject: null,
          batchId: null,
          providerMessageId: null,
          replyTo: null,
          headers: {},
          options: {},
          variables: {},
          sandbox: null,
        }),
      );
      const { model, styleHashes } = await dashboard.message(
        dashboard.base('M', 'tok', 'logs'),
        'id',
      );
      const html = views.render('message', model);
      expect(styleHashes).toEqual([]);
      expect(html).not.toContain('<iframe');
      expect(html).toContain('postal: NoRecipients');
      expect(html).toContain('(no subject)');
    });
  });

  it('renders the error page', () => {
    const { dashboard, views } = service(false);
    const html = views.render('error', {
      ...dashboard.base('400', '', null),
      status: 400,
      title: 'Bad',
      message: 'status <must> be',
      details: [{ field: 'status', message: 'no' }],
      requestId: 'r1',
    });
    expect(html).toContain('status &lt;must&gt; be');
    expect(html).toContain('<code>status</code>: no');
  });
});

describe(DashboardViews.name, () => {
  it('fails loudly on a field the view model lacks (strict templates)', () => {
    const views = new DashboardViews();
    expect(() => views.render('error', { pageTitle: 'x' })).toThrow(/not defined/);
  });
});
