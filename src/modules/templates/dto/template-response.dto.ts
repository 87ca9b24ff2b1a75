import { STREAMS, type Stream } from 'src/common/streams';
import { ApiProperty } from '@nestjs/swagger';

export class TemplateCreatedResponseDto {
  @ApiProperty({ example: 1 })
  id: number;

  @ApiProperty({ example: 'welcome' })
  external_id: string;

  @ApiProperty({ example: 'Welcome mail' })
  name: string;

  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

/** A template in a list: everything but the (possibly large) bodies. */
export class TemplateSummaryDto extends TemplateCreatedResponseDto {
  @ApiProperty({ example: 'Welcome, {{first_name}}!' })
  subject: string;

  @ApiProperty({ type: [String], example: ['first_name'] })
  variables: unknown[];

  @ApiProperty({
    enum: STREAMS,
    nullable: true,
    example: 'broadcast',
    description: 'README "Streams": its messages\' default stream; null: the endpoint\'s',
  })
  stream: Stream | null;

  @ApiProperty()
  active: boolean;

  @ApiProperty({ format: 'date-time' })
  updated_at: string;
}

export class TemplateResponseDto extends TemplateSummaryDto {
  @ApiProperty({ type: String, nullable: true, example: '<p>Hello {{first_name}}</p>' })
  html_content: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Hello {{first_name}}' })
  plain_content: string | null;
}

export class TemplateListResponseDto {
  @ApiProperty({ type: [TemplateSummaryDto] })
  data: TemplateSummaryDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as cursor for the next page' })
  next_cursor: string | null;
}

export class TemplatePreviewResponseDto {
  @ApiProperty({ example: 'Welcome, Ann!' })
  subject: string;

  @ApiProperty({ type: String, nullable: true })
  html: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Derived from html when absent' })
  text: string | null;
}
