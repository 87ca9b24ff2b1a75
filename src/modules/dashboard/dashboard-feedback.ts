import { Injectable } from '@nestjs/common';
import { formatTime, prettyJson } from 'src/modules/dashboard/dashboard-format';
import type { PageBase } from 'src/modules/dashboard/dashboard.service';
import {
  FeedbackReportListQueryDto,
  type FeedbackReportResponseDto,
} from 'src/modules/webhooks/dto/feedback-report.dto';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';

/** What an operator should read in each outcome (README, "Security": feedback reports). */
const OUTCOMES: Record<FeedbackReportResponseDto['outcome'], { label: string; acted: boolean }> = {
  complained: { label: 'complaint recorded', acted: true },
  already_complained: { label: 'complaint (already recorded)', acted: true },
  unsubscribed: { label: 'opt-out: unsubscribed', acted: true },
  not_spam: { label: 'not spam: no action', acted: false },
  auth_failure: { label: 'authentication failure: diagnostic', acted: false },
  unmatched: { label: 'matches no message of ours', acted: false },
  recipient_mismatch: { label: 'recipient differs from our message', acted: false },
  ignored: { label: 'not a feedback report', acted: false },
  unreadable: { label: 'could not be read', acted: false },
};

const RAW_PREVIEW_CHARS = 64 * 1024;

/**
 * `/dashboard/feedback`: every report that reached the feedback-loop address, with what it
 * changed. Reports that changed nothing (forged, unmatched, another recipient, unreadable)
 * are the ones to review.
 */
@Injectable()
export class DashboardFeedbackPages {
  constructor(private readonly reports: FeedbackReportsService) {}

  async list(base: PageBase, q: FeedbackReportListQueryDto) {
    const page = await this.reports.list(q);
    const query = (cursor?: string): string => {
      const params = new URLSearchParams();
      if (q.outcome) params.set('outcome', q.outcome);
      if (q.limit !== undefined) params.set('limit', String(q.limit));
      if (cursor) params.set('cursor', cursor);
      const s = params.toString();
      return s ? `/dashboard/feedback?${s}` : '/dashboard/feedback';
    };
    return {
      ...base,
      filtered: q.outcome !== undefined,
      outcomeOptions: Object.entries(OUTCOMES).map(([value, o]) => ({
        value,
        label: o.label,
        selected: value === q.outcome,
      })),
      rows: page.data.map((r) => ({
        ...this.summary(r),
        href: `/dashboard/feedback/${r.id}`,
      })),
      empty: page.data.length === 0,
      paged: q.cursor !== undefined,
      firstHref: query(),
      nextHref: page.next_cursor ? query(page.next_cursor) : null,
    };
  }

  /** One report with its fields and the message as received (escaped, never rendered). */
  async one(base: PageBase, id: string) {
    const report = await this.reports.get(id);
    const raw = report.raw ?? '';
    return {
      ...base,
      ...this.summary(report),
      fields: [
        ['Received', formatTime(report.received_at)],
        ['Feedback type', report.feedback_type],
        ['User agent', report.user_agent],
        ['Original recipient', report.original_recipient],
        ['Original mail from', report.original_mail_from],
        ['Reported domain', report.reported_domain],
        ['Source IP', report.source_ip],
        ['Arrival date', report.arrival_date ? formatTime(report.arrival_date) : null],
        ['Claimed X-Email-Id', report.claimed_email_id],
        ['Claimed Message-ID', report.claimed_message_id],
        ['Error', report.error],
      ].map(([label, value]) => ({ label, value: value || '—', empty: !value })),
      messageHref: report.message_id ? `/dashboard/logs/${report.message_id}` : null,
      messageId: report.message_id,
      details: Object.keys(report.details).length > 0 ? prettyJson(report.details) : null,
      raw: raw.length > RAW_PREVIEW_CHARS ? raw.slice(0, RAW_PREVIEW_CHARS) : raw,
      rawTruncated: raw.length > RAW_PREVIEW_CHARS,
    };
  }

  private summary(r: FeedbackReportResponseDto) {
    const outcome = OUTCOMES[r.outcome];
    return {
      id: r.id,
      received: formatTime(r.received_at),
      outcome: r.outcome,
      outcomeLabel: outcome.label,
      outcomeCls: outcome.acted ? 'st-complained' : 'st-held',
      feedbackType: r.feedback_type ?? '—',
      recipient: r.original_recipient ?? '—',
      reportedDomain: r.reported_domain ?? '—',
      matched: r.message_id !== null,
    };
  }
}
