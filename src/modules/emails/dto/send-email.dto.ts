import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import {
  IsHeaderMap,
  IsMailbox,
  IsPlainObject,
  IsRecipient,
  IsSendAt,
  NO_CRLF,
} from 'src/modules/emails/dto/email-validators';

const crlf = { message: '$property must not contain a line break' };

/** Content and options shared by single sends and batches (SPEC §4.1). */
export class EmailContentDto {
  @ApiPropertyOptional({
    example: 'Shop <news@shop.example>',
    description: 'Defaults to DEFAULT_FROM',
  })
  @IsOptional()
  @IsMailbox()
  from?: string;

  @ApiPropertyOptional({ example: 'help@shop.example' })
  @IsOptional()
  @IsMailbox()
  reply_to?: string;

  @ApiPropertyOptional({
    example: 'welcome',
    description: "A template's external_id (or give inline content)",
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(64)
  template_id?: string;

  @ApiPropertyOptional({
    example: 'Hi {{first_name}}',
    description: "Overrides the template's subject",
  })
  @IsOptional()
  @IsString()
  @MaxLength(998)
  @Matches(NO_CRLF, crlf)
  subject?: string;

  @ApiPropertyOptional({ example: '<p>Hello {{first_name}}</p>' })
  @IsOptional()
  @IsString()
  html?: string;

  @ApiPropertyOptional({ example: 'Hello {{first_name}}' })
  @IsOptional()
  @IsString()
  text?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { first_name: 'Ann' },
  })
  @IsOptional()
  @IsPlainObject()
  variables?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'spring-2026' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(NO_CRLF, crlf)
  campaign_id?: string;

  @ApiPropertyOptional({ example: 'welcome' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(NO_CRLF, crlf)
  tag?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'X-Entity-Ref': '42' },
  })
  @IsOptional()
  @IsHeaderMap()
  headers?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Defaults to TRACK_OPENS' })
  @IsOptional()
  @IsBoolean()
  track_opens?: boolean;

  @ApiPropertyOptional({ description: 'Defaults to TRACK_CLICKS' })
  @IsOptional()
  @IsBoolean()
  track_clicks?: boolean;

  @ApiPropertyOptional({ description: 'Add List-Unsubscribe headers and a link (default true)' })
  @IsOptional()
  @IsBoolean()
  unsubscribe?: boolean;

  @ApiPropertyOptional({ example: '2026-12-01T09:00:00Z', description: 'At most 30 days ahead' })
  @IsOptional()
  @IsSendAt()
  send_at?: string;
}

export class SendEmailDto extends EmailContentDto {
  @ApiProperty({
    oneOf: [
      { type: 'string', example: 'ann@example.com' },
      { type: 'object', properties: { email: { type: 'string' }, name: { type: 'string' } } },
    ],
  })
  @IsRecipient()
  to: string | { email: string; name?: string };
}

export class SendEmailResponseDto {
  @ApiProperty({ format: 'uuid' })
  message_id: string;

  @ApiProperty({ example: 'queued' })
  status: 'queued';

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  send_at: string | null;
}
