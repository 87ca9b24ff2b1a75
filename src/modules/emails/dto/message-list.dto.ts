import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { STREAMS, type Stream } from 'src/common/streams';
import { EMAIL_STATUSES, EmailStatus } from 'src/modules/emails/email-log.entity';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';

export class MessageListQueryDto {
  @ApiPropertyOptional({ enum: EMAIL_STATUSES })
  @IsOptional()
  @IsIn(EMAIL_STATUSES)
  status?: EmailStatus;

  @ApiPropertyOptional({ maxLength: 320, description: 'Exact address, case-insensitive' })
  @IsOptional()
  @IsString()
  @MaxLength(320)
  recipient?: string;

  @ApiPropertyOptional({ maxLength: 255 })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  campaign_id?: string;

  @ApiPropertyOptional({ maxLength: 255, description: 'Recipient domain' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  domain?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  batch_id?: string;

  @ApiPropertyOptional({ enum: STREAMS, description: 'README "Streams"' })
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream?: Stream;

  @ApiPropertyOptional({ format: 'date-time', description: 'Created at or after' })
  @IsOptional()
  @IsISO8601({ strict: true })
  created_after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Created before' })
  @IsOptional()
  @IsISO8601({ strict: true })
  created_before?: string;

  // `from` means the sender everywhere else (README "Management"): these two are the old names
  // of created_after / created_before, still accepted.
  @ApiPropertyOptional({
    format: 'date-time',
    deprecated: true,
    description: 'Deprecated alias of created_after',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    deprecated: true,
    description: 'Deprecated alias of created_before',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 64, description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  cursor?: string;
}

export class MessageSummaryDto extends OmitType(MessageStatusResponseDto, [
  'events',
  'recipients',
] as const) {}

export class MessageListResponseDto {
  @ApiProperty({ type: [MessageSummaryDto] })
  data: MessageSummaryDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next page; null on the last page',
  })
  next_cursor: string | null;
}
