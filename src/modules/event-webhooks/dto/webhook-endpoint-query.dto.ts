import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { EVENT_TYPES, type EventType } from 'src/modules/event-webhooks/event-types';

export const DELIVERY_STATUS_VALUES = ['pending', 'sending', 'succeeded', 'failed'] as const;

export class WebhookEndpointListQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 200, description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export class WebhookDeliveryListQueryDto extends WebhookEndpointListQueryDto {
  @ApiPropertyOptional({ enum: DELIVERY_STATUS_VALUES })
  @IsOptional()
  @IsIn(DELIVERY_STATUS_VALUES, {
    message: `status must be one of: ${DELIVERY_STATUS_VALUES.join(', ')}`,
  })
  status?: (typeof DELIVERY_STATUS_VALUES)[number];
}

export class WebhookReplayDto {
  @ApiProperty({
    format: 'date-time',
    description: 'Events created at or after this time',
    example: '2026-12-06T08:00:00Z',
  })
  @IsISO8601({ strict: true })
  since: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Events created before this time (default: now)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;

  @ApiPropertyOptional({
    enum: EVENT_TYPES,
    isArray: true,
    description: 'Only these types (default: every type the endpoint receives)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(EVENT_TYPES, {
    each: true,
    message: `each value in event_types must be one of: ${EVENT_TYPES.join(', ')}`,
  })
  event_types?: EventType[];
}
