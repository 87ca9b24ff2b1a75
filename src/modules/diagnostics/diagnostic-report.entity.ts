import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

export const DIAGNOSTIC_REPORT_TYPES = [
  'anomaly',
  'hourly_check',
  'manual',
  'ai_triggered',
] as const;
export type DiagnosticReportType = (typeof DIAGNOSTIC_REPORT_TYPES)[number];

export const DIAGNOSTIC_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type DiagnosticSeverity = (typeof DIAGNOSTIC_SEVERITIES)[number];

export const DIAGNOSTIC_REPORT_STATUSES = [
  'pending',
  'acknowledged',
  'resolved',
  'ignored',
] as const;
export type DiagnosticReportStatus = (typeof DIAGNOSTIC_REPORT_STATUSES)[number];

const sqlList = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');

@Entity('diagnostic_reports')
@Check(
  'diagnostic_reports_report_type_check',
  `report_type IN (${sqlList(DIAGNOSTIC_REPORT_TYPES)})`,
)
@Check('diagnostic_reports_severity_check', `severity IN (${sqlList(DIAGNOSTIC_SEVERITIES)})`)
@Check('diagnostic_reports_status_check', `status IN (${sqlList(DIAGNOSTIC_REPORT_STATUSES)})`)
export class DiagnosticReport {
  @PrimaryGeneratedColumn('identity', {
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_diagnostic_reports',
  })
  id: number;

  @Index('idx_diagnostic_reports_report_type')
  @Column({ name: 'report_type', type: 'varchar', length: 32 })
  reportType: DiagnosticReportType;

  @Index('idx_diagnostic_reports_severity')
  @Column({ type: 'varchar', length: 16 })
  severity: DiagnosticSeverity;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  anomalies: unknown[];

  @Column({ type: 'jsonb', default: () => "'{}'" })
  stats: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  context: Record<string, unknown>;

  /** Identifies "the same open anomaly", so a recurrence updates its report instead of adding one. */
  @Index('idx_diagnostic_reports_fingerprint')
  @Column({ type: 'varchar', length: 128, nullable: true })
  fingerprint: string | null;

  @Column({ type: 'text' })
  summary: string;

  @Column({ name: 'root_cause', type: 'text', nullable: true })
  rootCause: string | null;

  @Column({ name: 'ai_analysis', type: 'text', nullable: true })
  aiAnalysis: string | null;

  @Column({ name: 'recommended_actions', type: 'jsonb', default: () => "'[]'" })
  recommendedActions: unknown[];

  @Column({ name: 'should_pause_sending', type: 'boolean', default: false })
  shouldPauseSending: boolean;

  @Column({ type: 'varchar', length: 16, nullable: true })
  urgency: string | null;

  @Index('idx_diagnostic_reports_status')
  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DiagnosticReportStatus;

  @Column({ name: 'resolved_at', type: 'timestamptz', nullable: true })
  resolvedAt: Date | null;

  @Column({ name: 'resolution_notes', type: 'text', nullable: true })
  resolutionNotes: string | null;

  @Index('idx_diagnostic_reports_created_at')
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
