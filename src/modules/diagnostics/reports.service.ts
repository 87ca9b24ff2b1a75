import { Injectable } from '@nestjs/common';
import { NotFoundError } from 'src/common/errors/app-error';
import { DiagnosticReport } from 'src/modules/diagnostics/diagnostic-report.entity';
import { DiagnosticReportRepository } from 'src/modules/diagnostics/diagnostic-report.repository';
import {
  REPORT_CURSOR,
  ReportListQueryDto,
  ReportListResponseDto,
  ReportResponseDto,
} from 'src/modules/diagnostics/dto/report.dto';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toReportResponse(r: DiagnosticReport): ReportResponseDto {
  return {
    id: r.id,
    report_type: r.reportType,
    severity: r.severity,
    status: r.status,
    summary: r.summary,
    root_cause: r.rootCause,
    ai_analysis: r.aiAnalysis,
    recommended_actions: r.recommendedActions,
    should_pause_sending: r.shouldPauseSending,
    urgency: r.urgency,
    anomalies: r.anomalies,
    stats: r.stats,
    context: r.context,
    resolved_at: iso(r.resolvedAt),
    resolution_notes: r.resolutionNotes,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

/** Reading and handling diagnostic reports (README "Management"): acknowledge, resolve. */
@Injectable()
export class ReportsService {
  constructor(private readonly reports: DiagnosticReportRepository) {}

  async list(q: ReportListQueryDto): Promise<ReportListResponseDto> {
    const limit = q.limit ?? 20;
    const rows = await this.reports.list({
      status: q.status,
      severity: q.severity,
      reportType: q.report_type,
      beforeId: q.cursor ? REPORT_CURSOR.decode(q.cursor) : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return {
      data: page.map(toReportResponse),
      next_cursor: rows.length > limit ? REPORT_CURSOR.encode(page[page.length - 1].id) : null,
    };
  }

  async get(id: number): Promise<ReportResponseDto> {
    return toReportResponse(await this.mustFind(id));
  }

  /** pending → acknowledged; idempotent for a report already past pending. */
  async acknowledge(id: number): Promise<ReportResponseDto> {
    await this.mustFind(id);
    return toReportResponse((await this.reports.transition(id, 'acknowledged', ['pending']))!);
  }

  /** pending/acknowledged → resolved with notes; a resolved report is returned as it is. */
  async resolve(id: number, notes?: string): Promise<ReportResponseDto> {
    await this.mustFind(id);
    return toReportResponse(
      (await this.reports.transition(id, 'resolved', ['pending', 'acknowledged'], notes))!,
    );
  }

  private async mustFind(id: number): Promise<DiagnosticReport> {
    const r =
      Number.isSafeInteger(id) && id > 0 && id < 2 ** 31 ? await this.reports.find(id) : null;
    if (!r) throw new NotFoundError(`Report ${id} not found`);
    return r;
  }
}
