import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  IsUrl,
  MaxLength,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { STREAMS, type Stream } from 'src/common/streams';
import { EVENT_TYPES, type EventType } from 'src/modules/event-webhooks/event-types';

const URL_OPTIONS = {
  protocols: ['http', 'https'],
  require_protocol: true,
  require_tld: false,
  allow_underscores: true,
  disallow_auth: true,
};
const URL_MESSAGE = 'url must be an http(s) URL without credentials';
const EVENTS_MESSAGE = `each value in events must be one of: ${EVENT_TYPES.join(', ')}`;

/** null clears a filter on PATCH; absent leaves it. */
const unlessNull = ValidateIf((_o, v) => v !== null);

export class WebhookEndpointCreateDto {
  @ApiProperty({
    maxLength: 2048,
    example: 'https://app.example.com/hooks/email',
    description: 'Where events are POSTed; https in production',
  })
  @IsUrl(URL_OPTIONS, { message: URL_MESSAGE })
  @MaxLength(2048)
  url: string;

  @ApiPropertyOptional({
    enum: EVENT_TYPES,
    isArray: true,
    description: 'Event types to receive (default: all)',
    example: ['email.delivered', 'email.bounced'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(EVENT_TYPES, { each: true, message: EVENTS_MESSAGE })
  events?: EventType[];

  @ApiPropertyOptional({ maxLength: 500, example: 'Production app' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ enum: STREAMS, description: 'Only messages of this stream' })
  @IsOptional()
  @IsIn(STREAMS)
  stream?: Stream;

  @ApiPropertyOptional({
    type: [String],
    description: 'Only messages of these campaigns',
    example: ['spring-sale'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  campaign_ids?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Only messages with one of these tags' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  tags?: string[];
}

export class WebhookEndpointUpdateDto {
  @ApiPropertyOptional({ maxLength: 2048 })
  @IsOptional()
  @IsUrl(URL_OPTIONS, { message: URL_MESSAGE })
  @MaxLength(2048)
  url?: string;

  @ApiPropertyOptional({
    enum: EVENT_TYPES,
    isArray: true,
    nullable: true,
    description: 'null: all event types',
  })
  @IsOptional()
  @unlessNull
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(EVENT_TYPES, { each: true, message: EVENTS_MESSAGE })
  events?: EventType[] | null;

  @ApiPropertyOptional({ maxLength: 500, nullable: true, type: String })
  @IsOptional()
  @unlessNull
  @IsString()
  @MaxLength(500)
  description?: string | null;

  @ApiPropertyOptional({ description: 'true also clears a disabled reason (410, failing)' })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ enum: STREAMS, nullable: true })
  @IsOptional()
  @unlessNull
  @IsIn(STREAMS)
  stream?: Stream | null;

  @ApiPropertyOptional({ type: [String], nullable: true })
  @IsOptional()
  @unlessNull
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  campaign_ids?: string[] | null;

  @ApiPropertyOptional({ type: [String], nullable: true })
  @IsOptional()
  @unlessNull
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  tags?: string[] | null;
}
