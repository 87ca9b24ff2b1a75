import { ApiProperty } from '@nestjs/swagger';
import { IsSendAt } from 'src/modules/emails/dto/email-validators';

/** `PATCH /api/v1/messages/:message_id` (README "Cancel and reschedule"). */
export class MessageRescheduleDto {
  @ApiProperty({
    format: 'date-time',
    example: '2026-12-24T09:00:00Z',
    description:
      'The new time: ISO 8601 with a time zone, at most 30 days ahead; a time in the past ' +
      'sends now',
  })
  @IsSendAt()
  send_at: string;
}

export class MessageCanceledResponseDto {
  @ApiProperty({ format: 'uuid' })
  message_id: string;

  @ApiProperty({ enum: ['canceled'], example: 'canceled' })
  status: 'canceled';
}

export class MessageRescheduledResponseDto {
  @ApiProperty({ format: 'uuid' })
  message_id: string;

  @ApiProperty({ enum: ['queued'], example: 'queued' })
  status: 'queued';

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it will be sent; null: now',
  })
  send_at: string | null;
}

export class BatchCanceledResponseDto {
  @ApiProperty({ format: 'uuid' })
  batch_id: string;

  @ApiProperty({ example: 9120, description: 'Messages canceled by this call' })
  canceled: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { delivered: 850, sent: 12, processing: 18, canceled: 9120 },
    description: "The batch's messages by status after the call",
  })
  by_status: Record<string, number>;
}
