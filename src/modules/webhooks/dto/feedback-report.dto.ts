import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import {
  FEEDBACK_OUTCOMES,
  type FeedbackOutcome,
} from 'src/modules/webhooks/feedback-report.entity';

export const FEEDBACK_LIST_DEFAULT_LIMIT = 50;
export const FEEDBACK_LIST_MAX_LIMIT = 200;

export class FeedbackReportListQueryDto {
  @ApiPropertyOptional({ enum: FEEDBACK_OUTCOMES })
  @IsOptional()
  @IsIn(FEEDBACK_OUTCOMES, { message: `outcome must be one of: ${FEEDBACK_OUTCOMES.join(', ')}` })
  outcome?: FeedbackOutcome;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: FEEDBACK_LIST_MAX_LIMIT,
    default: FEEDBACK_LIST_DEFAULT_LIMIT,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(FEEDBACK_LIST_MAX_LIMIT)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 40, description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  cursor?: string;
}

export class FeedbackReportResponseDto {
  @ApiProperty() id: string;
  @ApiProperty() received_at: string;
  @ApiProperty({
    enum: FEEDBACK_OUTCOMES,
    description:
      'complained / already_complained / unsubscribed changed the message or the suppression ' +
      'list; every other outcome changed nothing and is for an operator to review',
  })
  outcome: FeedbackOutcome;
  @ApiPropertyOptional({ type: String, nullable: true }) feedback_type: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) user_agent: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) original_recipient: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) original_mail_from: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) reported_domain: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) source_ip: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) arrival_date: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) claimed_email_id: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) claimed_message_id: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    format: 'uuid',
    description: 'Our message the report matched',
  })
  message_id: string | null;
  @ApiProperty({ type: Object }) details: Record<string, unknown>;
  @ApiPropertyOptional({ type: String, nullable: true }) error: string | null;
}

export class FeedbackReportDetailDto extends FeedbackReportResponseDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      'The message as received (or the request body when it could not be read), as UTF-8 text',
  })
  raw: string | null;
}

export class FeedbackReportListResponseDto {
  @ApiProperty({ type: [FeedbackReportResponseDto] }) data: FeedbackReportResponseDto[];
  @ApiPropertyOptional({ type: String, nullable: true }) next_cursor: string | null;
}

/** What POST /api/v1/inbound/postal answers for one report. */
export class InboundReportResultDto {
  @ApiProperty({ enum: FEEDBACK_OUTCOMES }) status: FeedbackOutcome;
  @ApiPropertyOptional({ type: String, nullable: true, format: 'uuid' }) message_id: string | null;
  @ApiProperty() feedback_report_id: string;
}
