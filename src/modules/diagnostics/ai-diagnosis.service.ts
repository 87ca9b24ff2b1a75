import { Injectable, Logger } from '@nestjs/common';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import { AnthropicDiagnoser } from 'src/modules/diagnostics/anthropic-diagnoser';
import type { DetectedAnomaly } from 'src/modules/diagnostics/anomaly-rules';
import { statsOf } from 'src/modules/diagnostics/anomaly-detector.service';
import { DiagnosticReportRepository } from 'src/modules/diagnostics/diagnostic-report.repository';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { toStorableString } from 'src/common/text/storable-text';

const HOUR_MS = 3600_000;

/**
 * The AI step (queue `analytics`): asks Claude about an `ai_triggered` report's anomalies and
 * writes its answer into the report; without a key, on an API error or an unusable answer the
 * rule-based fallback already in the report stands. Either way, one alert.
 */
@Injectable()
export class AiDiagnosisService {
  private readonly logger = new Logger(AiDiagnosisService.name);

  constructor(
    private readonly reports: DiagnosticReportRepository,
    private readonly diagnoser: AnthropicDiagnoser,
    private readonly analytics: AnalyticsService,
    private readonly diagnostics: DiagnosticsService,
  ) {}

  async run(reportId: number, hourIso: string): Promise<{ ok: boolean; reason?: string }> {
    const report = await this.reports.find(reportId);
    if (!report) return { ok: false, reason: 'report_missing' };
    const hour = new Date(hourIso);
    const [snapshot, topErrors] = await Promise.all([
      this.analytics.hourSnapshot(hour),
      this.analytics.topErrors(hour, new Date(hour.getTime() + HOUR_MS), 10),
    ]);
    const anomalies = report.anomalies as DetectedAnomaly[];
    const result = await this.diagnoser.diagnose({
      hour: hourIso,
      anomalies: anomalies.map((a) => ({ ...a, domain: a.domain ?? null })),
      stats: Object.fromEntries(
        Object.entries(report.stats).filter(([, v]) => typeof v === 'number'),
      ) as Record<string, number>,
      topErrors: topErrors.map((e) => ({
        smtp_code: e.smtpCode,
        message: e.message,
        count: e.count,
      })),
      domains: snapshot.domains.map((d) => {
        const s = statsOf(d);
        return {
          domain: d.domain ?? '',
          sent: d.sent,
          delivered: d.delivered,
          bounced: d.bouncedHard + d.bouncedSoft,
          complained: d.complained,
          bounce_rate: s.bounce_rate,
          complaint_rate: s.complaint_rate,
        };
      }),
    });
    const ref = { id: report.id, created: false, severity: report.severity };
    if (result.ok) {
      const d = result.diagnosis;
      await this.reports.applyDiagnosis(report.id, {
        summary: d.summary,
        rootCause: d.root_cause,
        aiAnalysis: d.analysis,
        recommendedActions: d.actions,
        shouldPauseSending: d.should_pause_sending,
        urgency: d.urgency,
        context: {
          ...report.context,
          ai: { status: 'ok', source: result.source, model: result.model },
        },
      });
      await this.diagnostics.alertFor(ref, {
        fingerprint: report.fingerprint ?? '',
        summary: `AI diagnosis: ${d.summary}`,
        rootCause: d.root_cause,
        recommendedActions: d.actions,
        stats: report.stats,
      });
      return { ok: true };
    }
    this.logger.warn(
      { reportId, reason: result.reason },
      'AI diagnosis unavailable: the rule-based report stands',
    );
    await this.reports.applyDiagnosis(report.id, {
      context: {
        ...report.context,
        ai: {
          status: 'fallback',
          reason: result.reason,
          // A cut through a surrogate pair would leave text jsonb refuses.
          detail: toStorableString(result.detail.slice(0, 300)),
        },
      },
    });
    await this.diagnostics.alertFor(ref, {
      fingerprint: report.fingerprint ?? '',
      summary: report.summary,
      recommendedActions: report.recommendedActions as string[],
      stats: report.stats,
    });
    return { ok: false, reason: result.reason };
  }
}
