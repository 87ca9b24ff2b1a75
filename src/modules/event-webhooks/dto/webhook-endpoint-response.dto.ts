import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { STREAMS } from 'src/common/streams';
import { EVENT_TYPES } from 'src/modules/event-webhooks/event-types';
import { DELIVERY_STATUS_VALUES } from 'src/modules/event-webhooks/dto/webhook-endpoint-query.dto';

export class WebhookEndpointHealthDto {
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'First failure since the last success',
  })
  failing_since: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_success_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_failure_at: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'HTTP 500' })
  last_error: string | null;
}

export class WebhookEndpointResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ example: 'https://app.example.com/hooks/email' })
  url: string;
  @ApiProperty({ type: String, nullable: true })
  description: string | null;
  @ApiProperty({ enum: EVENT_TYPES, isArray: true })
  events: string[];
  @ApiProperty({ enum: STREAMS, nullable: true })
  stream: string | null;
  @ApiProperty({ type: [String], nullable: true })
  campaign_ids: string[] | null;
  @ApiProperty({ type: [String], nullable: true })
  tags: string[] | null;
  @ApiProperty()
  enabled: boolean;
  @ApiProperty({
    enum: ['manual', 'gone', 'failing'],
    nullable: true,
    description: 'manual (API), gone (answered 410), failing (three days of failures)',
  })
  disabled_reason: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Until then the previous secret also signs (after rotate-secret)',
  })
  previous_secret_expires_at: string | null;
  @ApiProperty({ type: WebhookEndpointHealthDto })
  health: WebhookEndpointHealthDto;
  @ApiProperty({ format: 'date-time' })
  created_at: string;
  @ApiProperty({ format: 'date-time' })
  updated_at: string;
}

export class WebhookEndpointCreatedResponseDto extends WebhookEndpointResponseDto {
  @ApiProperty({
    description: 'The signing secret; shown only here and by rotate-secret',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  })
  secret: string;
}

export class WebhookEndpointListResponseDto {
  @ApiProperty({ type: [WebhookEndpointResponseDto] })
  data: WebhookEndpointResponseDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class WebhookSecretRotatedResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ example: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD' })
  secret: string;
  @ApiProperty({
    format: 'date-time',
    description: 'The previous secret signs alongside the new one until then (24 h)',
  })
  previous_secret_expires_at: string;
}

export class WebhookEndpointRemoveResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ example: true })
  deleted: boolean;
}

export class WebhookDeliveryResponseDto {
  @ApiProperty({ example: '1042' })
  id: string;
  @ApiProperty({
    description: 'The webhook-id header: the same on every attempt',
    example: 'msg_2b8c0f6e9a0d4c1fb0b5d5e4e3f2a1c0',
  })
  webhook_id: string;
  @ApiProperty({ enum: EVENT_TYPES })
  type: string;
  @ApiProperty({ enum: DELIVERY_STATUS_VALUES })
  status: string;
  @ApiProperty({ example: 1 })
  attempts: number;
  @ApiProperty({ type: 'integer', nullable: true, example: 200 })
  response_status: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'At most 1 KB of the answer' })
  response_body: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 42 })
  duration_ms: number | null;
  @ApiProperty({ type: String, nullable: true, example: 'HTTP 503' })
  error: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_attempt_at: string | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  next_attempt_at: string | null;
  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

export class WebhookDeliveryAttemptDto {
  @ApiProperty({ description: 'Counts from 1; starts again after a replay', example: 2 })
  attempt: number;
  @ApiProperty({ format: 'date-time' })
  started_at: string;
  @ApiProperty({ example: 42 })
  duration_ms: number;
  @ApiProperty({ type: 'integer', nullable: true, example: 503 })
  response_status: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'At most 1 KB of the answer' })
  response_body: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why it failed: no answer (timeout, refused, blocked address) or a non-2xx',
    example: 'HTTP 503',
  })
  error: string | null;
}

export class WebhookDeliveryDetailResponseDto extends WebhookDeliveryResponseDto {
  @ApiProperty({
    type: [WebhookDeliveryAttemptDto],
    description: 'Every attempt, oldest first (the last 100)',
  })
  attempt_history: WebhookDeliveryAttemptDto[];
}

export class WebhookDeliveryListResponseDto {
  @ApiProperty({ type: [WebhookDeliveryResponseDto] })
  data: WebhookDeliveryResponseDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class WebhookReplayResponseDto {
  @ApiProperty({ description: 'Deliveries queued again (or created)', example: 312 })
  replayed: number;
}
