import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { STREAMS } from 'src/common/streams';
import { MESSAGE_EVENT_TYPES } from 'src/modules/emails/email-event.entity';
import { EMAIL_STATUSES } from 'src/modules/emails/email-log.entity';

export class MessageEventDto {
  @ApiProperty({ enum: MESSAGE_EVENT_TYPES })
  type: string;

  @ApiProperty({ format: 'date-time' })
  occurred_at: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  details: Record<string, unknown>;

  @ApiPropertyOptional({
    example: 'ann@example.com',
    description: 'With several recipients: whose timeline the event belongs to',
  })
  recipient?: string;
}

/** One recipient's delivery record (README "Sending": several recipients). */
export class RecipientStatusDto {
  @ApiProperty({ example: 'ann@example.com' })
  email: string;

  @ApiProperty({ enum: ['to', 'cc', 'bcc'], example: 'to' })
  role: string;

  @ApiProperty({
    format: 'uuid',
    description: "The delivery record's id: its X-Email-Id, and a status id of its own",
  })
  recipient_id: string;

  @ApiProperty({ enum: EMAIL_STATUSES, example: 'delivered' })
  status: string;

  @ApiPropertyOptional({ enum: ['hard', 'soft'], nullable: true })
  bounce_type: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  error_message: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  sent_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  delivered_at: string | null;
}

export class MessageStatusResponseDto {
  @ApiProperty({ format: 'uuid' })
  message_id: string;

  @ApiProperty({ enum: EMAIL_STATUSES })
  status: string;

  @ApiProperty()
  recipient: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Shop <news@shop.example>',
    description: 'The sender (From) as accepted',
  })
  from: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The subject as rendered for this recipient; null until the message is rendered for delivery',
  })
  subject: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'The batch this message was sent in (POST /api/v1/batch), else null',
  })
  batch_id: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  campaign_id: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  tag: string | null;

  @ApiProperty({ enum: STREAMS, example: 'transactional', description: 'README "Streams"' })
  stream: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: "The template's external_id" })
  template_id: string | null;

  @ApiPropertyOptional({ enum: ['hard', 'soft'], nullable: true })
  bounce_type: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  bounce_reason: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  smtp_code: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  error_message: string | null;

  @ApiProperty()
  retry_count: number;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  next_retry_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  send_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  sent_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  delivered_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  opened_at: string | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  clicked_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ format: 'date-time' })
  updated_at: string;

  @ApiProperty({
    type: [RecipientStatusDto],
    description:
      'Every recipient with its own state (one entry for a single recipient). With several, ' +
      "the top-level fields are the first To recipient's and `status` is their common status, " +
      'or when they differ the one furthest from done: processing, queued, retry_scheduled, ' +
      'held, sent, bounced, failed, complained, then delivered',
  })
  recipients: RecipientStatusDto[];

  @ApiProperty({ type: [MessageEventDto] })
  events: MessageEventDto[];
}
