import { STREAMS, type Stream } from 'src/common/streams';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsNotEmpty,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
} from 'class-validator';

/** `external_id`: what API clients pass as `template_id` when sending. */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** A Handlebars variable name as callers document it (`first_name`, `order.total`). */
export const VARIABLE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
export const MAX_TEMPLATE_SOURCE = 512 * 1024;
export const MAX_SUBJECT_SOURCE = 2000;
export const MAX_VARIABLES = 200;

const VARIABLES_DOC =
  'Names of the variables the template expects, as documentation for callers (e.g. ' +
  '["first_name", "order.total"]). Not enforced when sending: a missing variable renders ' +
  'as an empty string. Always available besides these: message_id, recipient, ' +
  'unsubscribe_url, campaign_id.';

export class TemplateCreateDto {
  @ApiProperty({ example: 'welcome', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })
  @Matches(EXTERNAL_ID_PATTERN, {
    message: 'external_id must be 1 to 64 characters of letters, digits, ".", "_" or "-"',
  })
  @IsString()
  @IsDefined({ message: '$property is required' })
  external_id: string;

  @ApiProperty({ example: 'Welcome mail', minLength: 1, maxLength: 255 })
  @Length(1, 255)
  @IsString()
  @IsDefined({ message: '$property is required' })
  name: string;

  @ApiProperty({
    example: 'Welcome, {{first_name}}!',
    minLength: 1,
    maxLength: MAX_SUBJECT_SOURCE,
    description: 'Handlebars, not HTML-escaped',
  })
  @MaxLength(MAX_SUBJECT_SOURCE)
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  subject: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_TEMPLATE_SOURCE,
    example: '<p>Hello {{first_name}}</p>',
    description:
      'Handlebars; values are HTML-escaped ({{{raw}}} for trusted HTML). At least one of ' +
      'html_content and plain_content is required.',
  })
  @MaxLength(MAX_TEMPLATE_SOURCE)
  @IsString()
  @IsOptional()
  html_content?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_TEMPLATE_SOURCE,
    example: 'Hello {{first_name}}',
    description: 'Handlebars, not escaped. Derived from the HTML when absent.',
  })
  @MaxLength(MAX_TEMPLATE_SOURCE)
  @IsString()
  @IsOptional()
  plain_content?: string | null;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_VARIABLES,
    example: ['first_name'],
    description: VARIABLES_DOC,
  })
  @Matches(VARIABLE_NAME_PATTERN, {
    each: true,
    message: 'each variable must be a name like first_name or order.total (at most 128 chars)',
  })
  @IsString({ each: true })
  @ArrayMaxSize(MAX_VARIABLES)
  @IsArray()
  @IsOptional()
  variables?: string[];

  @ApiPropertyOptional({
    enum: STREAMS,
    nullable: true,
    example: 'broadcast',
    description:
      'README "Streams": the default stream of messages sent with this template (a request ' +
      "may override it); null or absent: the endpoint's default",
  })
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  @IsOptional()
  stream?: Stream | null;
}
