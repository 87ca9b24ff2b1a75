import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from 'src/config/app-config';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import {
  DiagnosticReportType,
  DiagnosticSeverity,
} from 'src/modules/diagnostics/diagnostic-report.entity';

export interface ReportInput {
  /** Identifies "the same open problem": an open report with it is updated, not duplicated. */
  fingerprint: string;
  reportType: DiagnosticReportType;
  severity: DiagnosticSeverity;
  summary: string;
  anomalies?: unknown[];
  stats?: Record<string, unknown>;
  context?: Record<string, unknown>;
  rootCause?: string | null;
  recommendedActions?: string[];
  shouldPauseSending?: boolean;
  urgency?: string | null;
  /** Alert operators (Telegram/Slack) about it; the same alert is not repeated within 30 min. */
  alert?: boolean;
  /**
   * Counts occurrences: `stats[countAs]` of the open report grows by one with every call (1 on
   * a new report), under the same lock, so concurrent workers never lose a count.
   */
  countAs?: string;
}

export interface ReportRef {
  id: number;
  created: boolean;
  severity: DiagnosticSeverity;
}

const SEVERITY_RANK: Record<DiagnosticSeverity, number> = { info: 0, warning: 1, critical: 2 };

/** Diagnostic reports: written by deliverability signals (provider events, complaint rates). */
@Injectable()
export class DiagnosticsService {
  private readonly logger = new Logger(DiagnosticsService.name);

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly notifications: NotificationsService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Creates a report, or updates the open (pending/acknowledged) one with the same
   * fingerprint — its severity never goes down while it is open. Serialised per fingerprint
   * with a transaction-scoped advisory lock, so concurrent workers don't create two.
   */
  async upsertOpenReport(input: ReportInput): Promise<ReportRef> {
    const ref = await this.ds.transaction(async (em) => {
      await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`report:${input.fingerprint}`]);
      const open: Array<{
        id: number;
        severity: DiagnosticSeverity;
        stats: Record<string, unknown> | null;
      }> = await em.query(
        `SELECT id, severity, stats FROM diagnostic_reports
          WHERE fingerprint = $1 AND status IN ('pending', 'acknowledged')
          ORDER BY id DESC LIMIT 1`,
        [input.fingerprint],
      );
      let stats = input.stats ?? {};
      if (input.countAs) {
        const before = Number(open[0]?.stats?.[input.countAs] ?? 0);
        stats = { ...stats, [input.countAs]: (Number.isFinite(before) ? before : 0) + 1 };
      }
      const values = [
        input.severity,
        JSON.stringify(input.anomalies ?? []),
        JSON.stringify(stats),
        JSON.stringify(input.context ?? {}),
        input.summary,
        input.rootCause ?? null,
        JSON.stringify(input.recommendedActions ?? []),
        input.shouldPauseSending ?? false,
        input.urgency ?? null,
      ];
      if (open[0]) {
        const severity =
          SEVERITY_RANK[open[0].severity] > SEVERITY_RANK[input.severity]
            ? open[0].severity
            : input.severity;
        values[0] = severity;
        await em.query(
          `UPDATE diagnostic_reports
              SET severity = $1, anomalies = $2, stats = $3, context = $4, summary = $5, root_cause = $6,
                  recommended_actions = $7, should_pause_sending = $8, urgency = $9, updated_at = now()
            WHERE id = $10`,
          [...values, open[0].id],
        );
        return { id: open[0].id, created: false, severity };
      }
      const rows: Array<{ id: number }> = await em.query(
        `INSERT INTO diagnostic_reports (severity, anomalies, stats, context, summary, root_cause,
                                         recommended_actions, should_pause_sending, urgency, report_type, fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
        [...values, input.reportType, input.fingerprint],
      );
      return { id: rows[0].id, created: true, severity: input.severity };
    });
    this.logger.warn(
      {
        reportId: ref.id,
        fingerprint: input.fingerprint,
        severity: ref.severity,
        created: ref.created,
      },
      `diagnostic report: ${input.summary}`,
    );
    if (input.alert !== false) await this.alertFor(ref, input);
    return ref;
  }

  /** Sends a report to the operators' channels (deduplicated per report and severity). */
  async alertFor(
    ref: ReportRef,
    input: Pick<ReportInput, 'summary' | 'recommendedActions' | 'stats' | 'fingerprint'> & {
      rootCause?: string | null;
    },
  ): Promise<void> {
    if (ref.severity === 'info') return;
    const actions = (input.recommendedActions ?? []).slice(0, 5).map((a) => `• ${a}`);
    await this.notifications.alert({
      key: `report:${ref.id}:${ref.severity}`,
      severity: ref.severity,
      title: input.summary,
      text:
        [input.rootCause ? `Cause: ${input.rootCause}` : null, ...actions]
          .filter(Boolean)
          .join('\n') || input.summary,
      fields: { report: ref.id, ...(numericFields(input.stats) ?? {}) },
      url: `${this.config.publicUrl}/api/v1/reports/${ref.id}`,
    });
  }
}

/** A few headline numbers of a report's stats for the alert, when present. */
function numericFields(
  stats: Record<string, unknown> | undefined,
): Record<string, number> | undefined {
  if (!stats) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number' && Object.keys(out).length < 6) out[k] = v;
  }
  return out;
}
