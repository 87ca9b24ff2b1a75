import { STREAMS, type Stream } from 'src/common/streams';
import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsNotEmpty,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import {
  MAX_SUBJECT_SOURCE,
  MAX_TEMPLATE_SOURCE,
  MAX_VARIABLES,
  VARIABLE_NAME_PATTERN,
} from 'src/modules/templates/dto/template-create.dto';

/** Validates a field when it is present; `null` is rejected (these columns are NOT NULL). */
const IfPresent = (): PropertyDecorator => ValidateIf((_o, v) => v !== undefined);

/**
 * Partial update: absent fields keep their value. `html_content`/`plain_content` may be set
 * to null to remove that part, as long as one of them remains.
 */
export class TemplateUpdateDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 255, example: 'Welcome mail' })
  @Length(1, 255)
  @IsString()
  @IfPresent()
  name?: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: MAX_SUBJECT_SOURCE,
    example: 'Welcome, {{first_name}}!',
    description: 'Handlebars, not HTML-escaped',
  })
  @MaxLength(MAX_SUBJECT_SOURCE)
  @IsNotEmpty()
  @IsString()
  @IfPresent()
  subject?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_TEMPLATE_SOURCE,
    description: 'Handlebars, HTML-escaped; null removes the HTML part',
  })
  @MaxLength(MAX_TEMPLATE_SOURCE)
  @IsString()
  @IsOptional()
  html_content?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_TEMPLATE_SOURCE,
    description: 'Handlebars, not escaped; null removes the text part',
  })
  @MaxLength(MAX_TEMPLATE_SOURCE)
  @IsString()
  @IsOptional()
  plain_content?: string | null;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_VARIABLES,
    description: 'Names of the expected variables',
  })
  @Matches(VARIABLE_NAME_PATTERN, {
    each: true,
    message: 'each variable must be a name like first_name or order.total (at most 128 chars)',
  })
  @IsString({ each: true })
  @ArrayMaxSize(MAX_VARIABLES)
  @IsArray()
  @IfPresent()
  variables?: string[];

  @ApiPropertyOptional({ description: 'false deactivates (as DELETE does); true reactivates' })
  @IsBoolean()
  @IfPresent()
  active?: boolean;

  @ApiPropertyOptional({
    enum: STREAMS,
    nullable: true,
    example: 'broadcast',
    description:
      'README "Streams": the default stream of messages sent with this template (a request ' +
      "may override it); null or absent: the endpoint's default",
  })
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  // null is a value here: back to the endpoint's default.
  @IsOptional()
  stream?: Stream | null;
}
