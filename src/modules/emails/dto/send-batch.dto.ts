import { ApiExtraModels, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsOptional,
  ValidateNested,
} from 'class-validator';
import { IsPlainObject } from 'src/modules/emails/dto/email-validators';
import {
  EmailContentDto,
  RECIPIENT_SCHEMA,
  RecipientObjectDto,
} from 'src/modules/emails/dto/send-email.dto';

export const MAX_BATCH_RECIPIENTS = 10_000;

@ApiExtraModels(RecipientObjectDto)
export class BatchRecipientDto {
  @ApiProperty({
    ...RECIPIENT_SCHEMA,
    description:
      'An address or {"email", "name"}. A recipient that is not one is not a 400: it is ' +
      "listed in the answer's `rejected` with code invalid_recipient",
  })
  @IsDefined()
  to: unknown;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Overrides the shared variables',
    example: { first_name: 'Ann' },
  })
  @IsOptional()
  @IsPlainObject()
  variables?: Record<string, unknown>;
}

export class SendBatchDto extends EmailContentDto {
  @ApiProperty({
    type: [BatchRecipientDto],
    minItems: 1,
    maxItems: MAX_BATCH_RECIPIENTS,
    description: '1 to 10,000 recipients; the whole body at most 10 MB',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_RECIPIENTS)
  @ValidateNested({ each: true })
  @Type(() => BatchRecipientDto)
  recipients: BatchRecipientDto[];
}

export const BATCH_REJECT_CODES = [
  'invalid_recipient',
  'duplicate_recipient',
  'recipient_suppressed',
] as const;
export type BatchRejectCode = (typeof BATCH_REJECT_CODES)[number];

export class BatchRejectDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 3, description: 'Index in recipients' })
  index: number;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'not-an-address',
    description:
      'The address as given: the string, or the email of an {"email", "name"} object; null ' +
      'when the recipient had no string to show (a number, an object without email, …)',
  })
  to: string | null;

  @ApiProperty({ enum: BATCH_REJECT_CODES, example: 'invalid_recipient' })
  code: BatchRejectCode;

  @ApiProperty({
    example: 'to must be an email address or {"email", "name"}',
    description: 'Why, for a person',
  })
  message: string;
}

export class BatchMessageDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 0 }) index: number;
  @ApiProperty({ example: 'ann@example.com' }) to: string;
  @ApiProperty({ format: 'uuid' }) message_id: string;
}

export class SendBatchResponseDto {
  @ApiProperty({ format: 'uuid' }) batch_id: string;
  @ApiProperty({ type: 'integer', minimum: 0, example: 1 }) accepted: number;
  @ApiProperty({ type: [BatchRejectDto] }) rejected: BatchRejectDto[];
  @ApiProperty({ type: [BatchMessageDto] }) messages: BatchMessageDto[];
}

export class BatchProgressResponseDto {
  @ApiProperty({ format: 'uuid' }) batch_id: string;
  @ApiPropertyOptional({ type: String, nullable: true }) campaign_id: string | null;
  @ApiProperty({ type: 'integer', example: 101 }) total: number;
  @ApiProperty({ type: 'integer', example: 100 }) accepted: number;
  @ApiProperty({ type: 'integer', example: 1 }) rejected: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { queued: 10, delivered: 90 },
    description: 'Accepted messages by status (statuses with none are absent)',
  })
  by_status: Record<string, number>;
  @ApiProperty({ format: 'date-time' }) created_at: string;
}
