import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateBy,
} from 'class-validator';
import { idCursor } from 'src/common/pagination/keyset-cursor';
import {
  DIAGNOSTIC_REPORT_STATUSES,
  DIAGNOSTIC_REPORT_TYPES,
  DIAGNOSTIC_SEVERITIES,
  DiagnosticReportStatus,
  DiagnosticReportType,
  DiagnosticSeverity,
} from 'src/modules/diagnostics/diagnostic-report.entity';

/** `GET /api/v1/reports`: the last row's diagnostic_reports.id (integer), as plain digits. */
export const REPORT_CURSOR = idCursor('integer', { encoding: 'plain' });

export class ReportListQueryDto {
  @ApiPropertyOptional({ enum: DIAGNOSTIC_REPORT_STATUSES })
  @IsOptional()
  @IsIn(DIAGNOSTIC_REPORT_STATUSES)
  status?: DiagnosticReportStatus;

  @ApiPropertyOptional({ enum: DIAGNOSTIC_SEVERITIES })
  @IsOptional()
  @IsIn(DIAGNOSTIC_SEVERITIES)
  severity?: DiagnosticSeverity;

  @ApiPropertyOptional({ enum: DIAGNOSTIC_REPORT_TYPES })
  @IsOptional()
  @IsIn(DIAGNOSTIC_REPORT_TYPES)
  report_type?: DiagnosticReportType;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  // Range-checked against diagnostic_reports.id (integer) before it reaches SQL.
  @ValidateBy({
    name: 'isReportCursor',
    validator: {
      validate: (v: unknown) => REPORT_CURSOR.isValid(v),
      defaultMessage: () => 'cursor is invalid',
    },
  })
  cursor?: string;
}

export class ReportResolveDto {
  @ApiPropertyOptional({
    maxLength: 5000,
    example: 'Removed the purchased list; bounce rate back to 0.8 %',
  })
  @IsOptional()
  @IsString()
  @MaxLength(5000)
  notes?: string;
}

export class ReportResponseDto {
  @ApiProperty() id: number;
  @ApiProperty({ enum: DIAGNOSTIC_REPORT_TYPES }) report_type: string;
  @ApiProperty({ enum: DIAGNOSTIC_SEVERITIES }) severity: string;
  @ApiProperty({ enum: DIAGNOSTIC_REPORT_STATUSES }) status: string;
  @ApiProperty() summary: string;
  @ApiPropertyOptional({ type: String, nullable: true }) root_cause: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) ai_analysis: string | null;
  @ApiProperty({ type: [String] }) recommended_actions: unknown[];
  @ApiProperty() should_pause_sending: boolean;
  @ApiPropertyOptional({ type: String, nullable: true }) urgency: string | null;
  @ApiProperty({ type: 'array', items: { type: 'object' } }) anomalies: unknown[];
  @ApiProperty({ type: 'object', additionalProperties: true }) stats: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) context: Record<string, unknown>;
  @ApiPropertyOptional({ type: String, nullable: true }) resolved_at: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) resolution_notes: string | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class ReportListResponseDto {
  @ApiProperty({ type: [ReportResponseDto] }) data: ReportResponseDto[];
  @ApiPropertyOptional({ type: String, nullable: true }) next_cursor: string | null;
}
