import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  FEEDBACK_OUTCOMES,
  type FeedbackOutcome,
} from 'src/modules/webhooks/feedback-report.entity';

/** What POST /api/v1/webhook answers once the event is stored (README "Unauthenticated"). */
export class WebhookReceivedResponseDto {
  @ApiProperty({
    enum: ['ok', 'duplicate'],
    example: 'ok',
    description: 'duplicate: an event with this uuid was stored before (nothing more is done)',
  })
  status: 'ok' | 'duplicate';
}

/** One report of an inbound message and what it changed. */
export class InboundReportOutcomeDto {
  @ApiProperty({ enum: FEEDBACK_OUTCOMES, example: 'complained' })
  status: FeedbackOutcome;

  @ApiProperty({ type: String, nullable: true, format: 'uuid', description: 'Our message' })
  message_id: string | null;
}

/** What POST /api/v1/inbound/postal answers: the first report's outcome (and all of them). */
export class InboundResponseDto {
  @ApiProperty({ enum: FEEDBACK_OUTCOMES, example: 'complained' })
  status: FeedbackOutcome;

  @ApiPropertyOptional({ type: String, nullable: true, format: 'uuid' })
  message_id?: string | null;

  @ApiPropertyOptional({ description: 'Why the request was unreadable or ignored' })
  reason?: string;

  @ApiPropertyOptional({
    type: [InboundReportOutcomeDto],
    description: 'Every report, when the message held more than one',
  })
  reports?: InboundReportOutcomeDto[];
}
