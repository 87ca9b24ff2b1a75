import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
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
import { EmailContentDto } from 'src/modules/emails/dto/send-email.dto';

export const MAX_BATCH_RECIPIENTS = 10_000;

export class BatchRecipientDto {
  @ApiProperty({
    example: 'a@x.com',
    description: 'An address or {"email", "name"}; invalid ones are rejected by index',
  })
  @IsDefined()
  to: unknown;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Overrides the shared variables',
  })
  @IsOptional()
  @IsPlainObject()
  variables?: Record<string, unknown>;
}

export class SendBatchDto extends EmailContentDto {
  @ApiProperty({ type: [BatchRecipientDto], minItems: 1, maxItems: MAX_BATCH_RECIPIENTS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_RECIPIENTS)
  @ValidateNested({ each: true })
  @Type(() => BatchRecipientDto)
  recipients: BatchRecipientDto[];
}

export class BatchRejectDto {
  @ApiProperty() index: number;
  @ApiProperty() to: unknown;
  @ApiProperty({ enum: ['invalid_recipient', 'recipient_suppressed', 'duplicate_recipient'] })
  code: string;
}

export class BatchMessageDto {
  @ApiProperty() index: number;
  @ApiProperty() to: string;
  @ApiProperty({ format: 'uuid' }) message_id: string;
}

export class SendBatchResponseDto {
  @ApiProperty({ format: 'uuid' }) batch_id: string;
  @ApiProperty() accepted: number;
  @ApiProperty({ type: [BatchRejectDto] }) rejected: BatchRejectDto[];
  @ApiProperty({ type: [BatchMessageDto] }) messages: BatchMessageDto[];
}

export class BatchProgressResponseDto {
  @ApiProperty({ format: 'uuid' }) batch_id: string;
  @ApiPropertyOptional({ type: String, nullable: true }) campaign_id: string | null;
  @ApiProperty() total: number;
  @ApiProperty() accepted: number;
  @ApiProperty() rejected: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number' },
    example: { queued: 10, delivered: 90 },
  })
  by_status: Record<string, number>;
  @ApiProperty() created_at: string;
}
