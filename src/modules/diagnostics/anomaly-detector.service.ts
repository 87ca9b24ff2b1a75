import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { AppConfig } from 'src/config/app-config';
import { AnalyticsJob, JobPayloads, QueueName, tickJobId } from 'src/infra/queue/queue.constants';
import { AnalyticsService, HourSnapshot } from 'src/modules/analytics/analytics.service';
import {
  DetectedAnomaly,
  detectStreamAnomalies,
  HourCounts,
  recommendationsFor,
} from 'src/modules/diagnostics/anomaly-rules';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';

export type AnomalyCheckResult =
  | { outcome: 'none'; hour: string; sent: number }
  | {
      outcome: 'rule_report';
      hour: string;
      reportId: number;
      anomalies: DetectedAnomaly[];
      paused: boolean;
    }
  | {
      outcome: 'ai_requested';
      hour: string;
      reportId: number;
      anomalies: DetectedAnomaly[];
      paused: boolean;
    };

/** The fingerprint of "the" AI-diagnosed deliverability problem: one open report, updated. */
export const AI_REPORT_FINGERPRINT = 'ai_triggered:deliverability';

type RowLike = HourSnapshot['global'];

export function toCounts(row: NonNullable<RowLike>): HourCounts {
  return {
    domain: row.domain,
    stream: row.stream,
    sent: row.sent,
    delivered: row.delivered,
    bounced_hard: row.bouncedHard,
    bounced_soft: row.bouncedSoft,
    complained: row.complained,
  };
}

/** The hour's numbers as a report keeps them (percentages, like hourly_stats). */
export function statsOf(row: NonNullable<RowLike>): Record<string, number> {
  const pct = (n: number, d: number): number => (d > 0 ? Math.round((n / d) * 10000) / 100 : 0);
  const known = row.delivered + row.bouncedHard + row.bouncedSoft;
  return {
    sent: row.sent,
    delivered: row.delivered,
    bounced_hard: row.bouncedHard,
    bounced_soft: row.bouncedSoft,
    complained: row.complained,
    opened: row.opened,
    clicked: row.clicked,
    bounce_rate: pct(row.bouncedHard + row.bouncedSoft, row.sent),
    soft_bounce_rate: pct(row.bouncedSoft, row.sent),
    complaint_rate: row.sent > 0 ? Math.round((row.complained / row.sent) * 1_000_000) / 10_000 : 0,
    delivery_rate_known: pct(row.delivered, known),
  };
}

/**
 * The hourly anomaly check (README "Alerts"): thresholds over the hour, globally and per domain,
 * over all streams and within each stream (README "Streams").
 * One warning → an `hourly_check` report with the rule-based advice and an alert; more →
 * an `ai_triggered` report (the rule-based fallback first) and an AI diagnosis job. With
 * AUTO_PAUSE, a critical bounce or complaint hour pauses all sending, or only its stream when
 * only that stream's numbers are critical.
 */
@Injectable()
export class AnomalyDetectorService {
  private readonly logger = new Logger(AnomalyDetectorService.name);

  constructor(
    private readonly analytics: AnalyticsService,
    private readonly diagnostics: DiagnosticsService,
    private readonly rateControl: RateControlService,
    private readonly notifications: NotificationsService,
    private readonly config: AppConfig,
    @InjectQueue(QueueName.Analytics) private readonly queue: Queue,
  ) {}

  async check(hour: Date, snapshot?: HourSnapshot): Promise<AnomalyCheckResult> {
    const s = snapshot ?? (await this.analytics.hourSnapshot(hour));
    const hourIso = hour.toISOString();
    if (!s.global) return { outcome: 'none', hour: hourIso, sent: 0 };
    const min = this.config.anomalyMinVolume;
    const anomalies = detectStreamAnomalies(
      [s.global, ...s.domains].map(toCounts),
      s.streams.flatMap((x) => [...(x.global ? [x.global] : []), ...x.domains]).map(toCounts),
      min,
    );
    if (anomalies.length === 0) return { outcome: 'none', hour: hourIso, sent: s.global.sent };

    const stats = { hour: hourIso, ...statsOf(s.global) };
    const paused = await this.autoPause(anomalies, hourIso);
    const context = {
      hour: hourIso,
      domains: s.domains.map((d) => ({ domain: d.domain, ...statsOf(d) })),
      // Hours stored before streams were counted apart have no per-stream rows.
      streams: s.streams.flatMap((x) =>
        x.global ? [{ stream: x.stream, ...statsOf(x.global) }] : [],
      ),
      auto_paused: paused,
    };
    const actions = recommendationsFor(anomalies);

    if (anomalies.length === 1 && anomalies[0].severity === 'warning') {
      const [a] = anomalies;
      const ref = await this.diagnostics.upsertOpenReport({
        fingerprint: `hourly_check:${a.type}:${a.domain ?? 'all'}${a.stream ? `:${a.stream}` : ''}`,
        reportType: 'hourly_check',
        severity: 'warning',
        summary: a.message,
        anomalies,
        stats,
        context,
        recommendedActions: actions,
        urgency: 'medium',
      });
      return { outcome: 'rule_report', hour: hourIso, reportId: ref.id, anomalies, paused };
    }

    const critical = anomalies.some((a) => a.severity === 'critical');
    const ref = await this.diagnostics.upsertOpenReport({
      fingerprint: AI_REPORT_FINGERPRINT,
      reportType: 'ai_triggered',
      severity: critical ? 'critical' : 'warning',
      summary: fallbackSummary(anomalies),
      anomalies,
      stats,
      context: { ...context, ai: { status: 'pending' } },
      recommendedActions: actions,
      shouldPauseSending: anomalies.some(
        (a) =>
          a.severity === 'critical' && (a.type === 'bounce_rate' || a.type === 'complaint_rate'),
      ),
      urgency: critical ? 'high' : 'medium',
      // The diagnosis job alerts with the model's summary (or this fallback).
      alert: false,
    });
    const data: JobPayloads[AnalyticsJob.AiDiagnosis] = { reportId: ref.id, hour: hourIso };
    try {
      await this.queue.add(AnalyticsJob.AiDiagnosis, data, {
        jobId: tickJobId(`ai-diagnosis-${ref.id}`, hour),
        attempts: 2,
        backoff: { type: 'fixed', delay: 60_000 },
      });
    } catch (err) {
      this.logger.warn(`AI diagnosis not queued: ${(err as Error).message}`);
      await this.diagnostics.alertFor(ref, {
        fingerprint: AI_REPORT_FINGERPRINT,
        summary: fallbackSummary(anomalies),
        recommendedActions: actions,
        stats,
      });
    }
    return { outcome: 'ai_requested', hour: hourIso, reportId: ref.id, anomalies, paused };
  }

  /**
   * AUTO_PAUSE: a critical global bounce or complaint rate pauses all sending, once; one of a
   * single stream (the all-streams rate below critical) pauses that stream only.
   */
  private async autoPause(anomalies: DetectedAnomaly[], hour: string): Promise<boolean> {
    if (!this.config.autoPause) return false;
    const critical = anomalies.filter(
      (a) =>
        a.domain === null &&
        a.severity === 'critical' &&
        (a.type === 'bounce_rate' || a.type === 'complaint_rate'),
    );
    const trigger = critical.find((a) => a.stream === null) ?? critical[0];
    if (!trigger) return false;
    if (trigger.stream !== null) {
      await this.rateControl.pause(undefined, trigger.stream);
      this.logger.error(
        { hour, trigger: trigger.type, value: trigger.value, stream: trigger.stream },
        'sending of stream paused automatically',
      );
      await this.notifications.alert({
        key: `auto-pause:${trigger.stream}:${hour}`,
        severity: 'critical',
        title: `Sending of the ${trigger.stream} stream paused automatically`,
        text: `${trigger.message}. Sending of the ${trigger.stream} stream is paused (AUTO_PAUSE); other streams keep sending. Resume with POST /api/v1/rate-control/resume {"stream": "${trigger.stream}"} once the cause is fixed.`,
        fields: { hour, stream: trigger.stream, [trigger.type]: trigger.value },
      });
      return true;
    }
    if (!(await this.rateControl.isPaused())) {
      await this.rateControl.pause();
      this.logger.error(
        { hour, trigger: trigger.type, value: trigger.value },
        'all sending paused automatically',
      );
    }
    await this.notifications.alert({
      key: `auto-pause:${hour}`,
      severity: 'critical',
      title: 'Sending paused automatically',
      text: `${trigger.message}. All sending is paused (AUTO_PAUSE). Resume with POST /api/v1/rate-control/resume once the cause is fixed.`,
      fields: { hour, [trigger.type]: trigger.value },
    });
    return true;
  }
}

/** The original fallback report's summary: what crossed which threshold. */
export function fallbackSummary(anomalies: DetectedAnomaly[]): string {
  const critical = anomalies.filter((a) => a.severity === 'critical').length;
  const head = `${anomalies.length} deliverability anomal${anomalies.length === 1 ? 'y' : 'ies'}${critical ? ` (${critical} critical)` : ''}`;
  return `${head}: ${anomalies
    .slice(0, 4)
    .map((a) => a.message)
    .join('; ')}${anomalies.length > 4 ? '; …' : ''}`;
}
