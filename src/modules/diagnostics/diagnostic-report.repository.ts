import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import {
  DiagnosticReport,
  DiagnosticReportStatus,
  DiagnosticReportType,
  DiagnosticSeverity,
} from 'src/modules/diagnostics/diagnostic-report.entity';

@Injectable()
export class DiagnosticReportRepository {
  constructor(
    @InjectRepository(DiagnosticReport) private readonly reports: Repository<DiagnosticReport>,
  ) {}

  list(f: {
    status?: DiagnosticReportStatus;
    severity?: DiagnosticSeverity;
    reportType?: DiagnosticReportType;
    beforeId?: number;
    limit: number;
  }): Promise<DiagnosticReport[]> {
    const qb = this.reports.createQueryBuilder('r');
    if (f.status) qb.andWhere('r.status = :status', { status: f.status });
    if (f.severity) qb.andWhere('r.severity = :severity', { severity: f.severity });
    if (f.reportType) qb.andWhere('r.report_type = :type', { type: f.reportType });
    if (f.beforeId) qb.andWhere('r.id < :beforeId', { beforeId: f.beforeId });
    return qb.orderBy('r.id', 'DESC').limit(f.limit).getMany();
  }

  find(id: number): Promise<DiagnosticReport | null> {
    return this.reports.findOne({ where: { id } });
  }

  /** Moves a report along its lifecycle; only from the given statuses. Null when not found. */
  async transition(
    id: number,
    to: DiagnosticReportStatus,
    from: DiagnosticReportStatus[],
    notes?: string,
  ): Promise<DiagnosticReport | null> {
    await this.reports
      .createQueryBuilder()
      .update(DiagnosticReport)
      .set({
        status: to,
        ...(to === 'resolved' ? { resolvedAt: () => 'now()', resolutionNotes: notes ?? null } : {}),
      })
      .where('id = :id AND status IN (:...from)', { id, from })
      .execute();
    return this.find(id);
  }

  /** Writes the AI step's outcome into a report. */
  async applyDiagnosis(
    id: number,
    patch: Partial<
      Pick<
        DiagnosticReport,
        | 'summary'
        | 'rootCause'
        | 'aiAnalysis'
        | 'recommendedActions'
        | 'shouldPauseSending'
        | 'urgency'
        | 'context'
      >
    >,
  ): Promise<void> {
    await this.reports.update({ id }, patch as never);
  }
}
