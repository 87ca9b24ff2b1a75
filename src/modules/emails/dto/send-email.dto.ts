import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { MAX_ATTACHMENTS } from 'src/modules/emails/attachments/attachment-rules';
import { STREAMS, type Stream } from 'src/common/streams';
import {
  IsHeaderMap,
  IsMailbox,
  IsPlainObject,
  IsRecipientList,
  IsRecipientOrList,
  IsSendAt,
  NO_CRLF,
} from 'src/modules/emails/dto/email-validators';

const crlf = { message: '$property must not contain a line break' };

/** A recipient as an object (README "Sending"): the address and an optional display name. */
export class RecipientObjectDto {
  @ApiProperty({ example: 'ann@example.com', format: 'email', maxLength: 320 })
  email: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'Ann Example',
    maxLength: 200,
    description: 'Display name, without line breaks',
  })
  name?: string | null;
}

/** `to` as the API accepts it: an address, or `{email, name}` (nothing else). */
export const RECIPIENT_SCHEMA = {
  oneOf: [
    { type: 'string', format: 'email', maxLength: 320, example: 'ann@example.com' },
    { $ref: getSchemaPath(RecipientObjectDto) },
  ],
  example: 'ann@example.com',
};

/**
 * An attachment (README "Sending": attachments). Checked at accept by
 * attachments/attachment-rules.ts: errors name `attachments[i]`.
 */
export class AttachmentDto {
  @ApiProperty({
    example: 'invoice-42.pdf',
    maxLength: 255,
    description: 'Without path separators or control characters; executable types are refused',
  })
  filename: string;

  @ApiProperty({
    format: 'byte',
    example: 'JVBERi0xLjQK',
    description: 'The file, standard base64 (no line breaks)',
  })
  content: string;

  @ApiProperty({ example: 'application/pdf', maxLength: 255 })
  content_type: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'logo',
    maxLength: 250,
    description: 'Makes the attachment inline: the HTML shows it as <img src="cid:logo">',
  })
  content_id?: string | null;
}

/** Content and options shared by single sends and batches (README "Sending"). */
@ApiExtraModels(AttachmentDto)
export class EmailContentDto {
  @ApiPropertyOptional({
    example: 'Shop <news@shop.example>',
    maxLength: 998,
    description: 'An address or "Name <address>"; defaults to DEFAULT_FROM',
  })
  @IsOptional()
  @IsMailbox()
  from?: string;

  @ApiPropertyOptional({ example: 'help@shop.example', maxLength: 998 })
  @IsOptional()
  @IsMailbox()
  reply_to?: string;

  @ApiPropertyOptional({
    example: 'welcome',
    minLength: 1,
    maxLength: 64,
    description: "A template's external_id (or give inline content)",
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(64)
  template_id?: string;

  @ApiPropertyOptional({
    example: 'Hi {{first_name}}',
    maxLength: 998,
    description: "Handlebars; overrides the template's subject. No line breaks",
  })
  @IsOptional()
  @IsString()
  @MaxLength(998)
  @Matches(NO_CRLF, crlf)
  subject?: string;

  @ApiPropertyOptional({
    example: '<p>Hello {{first_name}}</p>',
    description: 'Handlebars HTML (values HTML-escaped); at most TEMPLATE_MAX_FIELD_BYTES',
  })
  @IsOptional()
  @IsString()
  html?: string;

  @ApiPropertyOptional({
    example: 'Hello {{first_name}}',
    description: 'Handlebars plain text; derived from html when absent',
  })
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

  @ApiPropertyOptional({ example: 'spring-2026', minLength: 1, maxLength: 255 })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(NO_CRLF, crlf)
  campaign_id?: string;

  @ApiPropertyOptional({ example: 'welcome', minLength: 1, maxLength: 255 })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(NO_CRLF, crlf)
  tag?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 998 },
    maxProperties: 50,
    example: { 'X-Entity-Ref': '42' },
    description:
      'Extra headers (at most 50). Headers the service or Postal owns (From, To, Subject, ' +
      'Message-ID, List-Unsubscribe, DKIM-Signature, X-Postal-*, …) are a 400',
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

  @ApiPropertyOptional({
    enum: STREAMS,
    example: 'transactional',
    description:
      'README "Streams". Default: the template\'s stream, else `transactional` on /send and ' +
      '`broadcast` on /batch. Decides unsubscribe scope, delivery priority and pauses',
  })
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream?: Stream;

  @ApiPropertyOptional({
    description:
      'Add List-Unsubscribe/-Post headers and a link. Default: true for broadcast, false for ' +
      'transactional',
  })
  @IsOptional()
  @IsBoolean()
  unsubscribe?: boolean;

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2026-12-01T09:00:00Z',
    description:
      'When to send: ISO 8601 with a time zone, at most 30 days ahead; a time in the past ' +
      'sends now',
  })
  @IsOptional()
  @IsSendAt()
  send_at?: string;

  @ApiPropertyOptional({
    type: [AttachmentDto],
    maxItems: MAX_ATTACHMENTS,
    description:
      'Files, decoded at most MAX_MESSAGE_BYTES together with html and text (413 beyond); a ' +
      'malformed one is a 400 and an executable type a 422 attachment_forbidden, naming ' +
      '`attachments[i]`. Stored once however many recipients carry it',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_ATTACHMENTS)
  attachments?: unknown[];
}

type Recipient = string | { email: string; name?: string | null };

@ApiExtraModels(RecipientObjectDto)
export class SendEmailDto extends EmailContentDto {
  @ApiProperty({
    oneOf: [
      ...RECIPIENT_SCHEMA.oneOf,
      { type: 'array', items: RECIPIENT_SCHEMA, minItems: 1, maxItems: 50 },
    ],
    example: 'ann@example.com',
    description: 'An address, {"email", "name"}, or a list of 1 to 50 of them',
  })
  @IsRecipientOrList()
  to: Recipient | Recipient[];

  @ApiPropertyOptional({
    type: 'array',
    items: RECIPIENT_SCHEMA,
    maxItems: 50,
    example: ['lead@example.com'],
    description: 'Copied recipients, listed in the Cc header (at most 50)',
  })
  @IsOptional()
  @IsRecipientList()
  cc?: Recipient[];

  @ApiPropertyOptional({
    type: 'array',
    items: RECIPIENT_SCHEMA,
    maxItems: 50,
    example: ['audit@example.com'],
    description:
      'Blind-copied recipients: each gets the message, no header names them (at most 50)',
  })
  @IsOptional()
  @IsRecipientList()
  bcc?: Recipient[];
}

/** One recipient of a message with several (README "Sending"). */
export class MessageRecipientDto {
  @ApiProperty({ example: 'ann@example.com' }) email: string;
  @ApiProperty({ enum: ['to', 'cc', 'bcc'], example: 'to' }) role: 'to' | 'cc' | 'bcc';
  @ApiProperty({
    format: 'uuid',
    description:
      "This recipient's delivery record: its own status, X-Email-Id and Postal message " +
      '(GET /api/v1/status/{recipient_id} answers for it alone)',
  })
  recipient_id: string;
}

/** A recipient dropped at accept because it is suppressed. */
export class SuppressedRecipientDto {
  @ApiProperty({ example: 'gone@example.com' }) email: string;
  @ApiProperty({ enum: ['to', 'cc', 'bcc'], example: 'cc' }) role: 'to' | 'cc' | 'bcc';
  @ApiProperty({ example: 'hard_bounce' }) reason: string;
}

export class SendEmailResponseDto {
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

  @ApiPropertyOptional({
    type: [MessageRecipientDto],
    description: 'With a list `to`, `cc` or `bcc`: each recipient that will receive a copy',
  })
  recipients?: MessageRecipientDto[];

  @ApiPropertyOptional({
    type: [SuppressedRecipientDto],
    description: 'With a list `to`, `cc` or `bcc`: recipients dropped as suppressed',
  })
  suppressed?: SuppressedRecipientDto[];
}
