import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional } from 'class-validator';

export class TemplatePreviewDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { first_name: 'Ann' },
    description:
      'Template variables. message_id, recipient, unsubscribe_url and campaign_id get sample ' +
      'values unless given here.',
  })
  @IsObject()
  @IsOptional()
  variables?: Record<string, unknown>;
}
