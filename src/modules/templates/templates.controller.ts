import {
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Put,
  Query,
  Body,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { TemplateCreateDto } from 'src/modules/templates/dto/template-create.dto';
import { TemplateListQueryDto } from 'src/modules/templates/dto/template-list-query.dto';
import { TemplatePreviewDto } from 'src/modules/templates/dto/template-preview.dto';
import {
  TemplateCreatedResponseDto,
  TemplateListResponseDto,
  TemplatePreviewResponseDto,
  TemplateResponseDto,
} from 'src/modules/templates/dto/template-response.dto';
import { TemplateUpdateDto } from 'src/modules/templates/dto/template-update.dto';
import { TemplatesService } from 'src/modules/templates/templates.service';

@ApiTags('templates')
@ApiBearerAuth()
@Controller('api/v1/templates')
export class TemplatesController {
  constructor(private readonly templates: TemplatesService) {}

  @Post()
  @ApiOperation({
    operationId: 'createTemplate',
    summary: 'Create a template',
    description:
      'Subject, html_content and plain_content are Handlebars and are compiled now: a syntax ' +
      'error is a 422 template_invalid naming the field and line. A missing or invalid field, ' +
      'or an external_id already taken, is a 400 validation_error naming the field.',
  })
  @ApiBody({ type: TemplateCreateDto })
  @ApiResponse({ status: 201, type: TemplateCreatedResponseDto })
  @ApiErrorResponses(400, 401, 403, 413, 422, 429)
  create(@Body() dto: TemplateCreateDto): Promise<TemplateCreatedResponseDto> {
    return this.templates.create(dto);
  }

  @Get()
  @ApiOperation({
    operationId: 'listTemplates',
    summary: 'List templates, newest first (keyset pagination)',
  })
  @ApiResponse({ status: 200, type: TemplateListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() query: TemplateListQueryDto): Promise<TemplateListResponseDto> {
    return this.templates.list(query);
  }

  @Get(':external_id')
  @ApiOperation({
    operationId: 'getTemplate',
    summary: 'One template, deactivated ones included',
  })
  @ApiResponse({ status: 200, type: TemplateResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  get(@Param('external_id') externalId: string): Promise<TemplateResponseDto> {
    return this.templates.get(externalId);
  }

  @Put(':external_id')
  @ApiOperation({
    operationId: 'updateTemplate',
    summary: 'Update a template (only the fields given)',
    description: 'Compiled again like on create; the same 400 and 422 answers.',
  })
  @ApiBody({ type: TemplateUpdateDto })
  @ApiResponse({ status: 200, type: TemplateResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 413, 422, 429)
  update(
    @Param('external_id') externalId: string,
    @Body() dto: TemplateUpdateDto,
  ): Promise<TemplateResponseDto> {
    return this.templates.update(externalId, dto);
  }

  @Delete(':external_id')
  @ApiOperation({
    operationId: 'deactivateTemplate',
    summary: 'Deactivate a template',
    description:
      'Sets active to false (idempotent): it can no longer be used for sending, but stays ' +
      'readable and can be reactivated with PUT {"active": true}.',
  })
  @ApiResponse({ status: 200, type: TemplateResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  deactivate(@Param('external_id') externalId: string): Promise<TemplateResponseDto> {
    return this.templates.deactivate(externalId);
  }

  @Post(':external_id/preview')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'previewTemplate',
    summary: 'Render a template with the given variables',
    description:
      'message_id, recipient, unsubscribe_url and campaign_id get sample values unless given. ' +
      'A render error (e.g. a missing helper) is a 422 template_invalid.',
  })
  @ApiResponse({ status: 200, type: TemplatePreviewResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 413, 422, 429)
  preview(
    @Param('external_id') externalId: string,
    @Body() dto: TemplatePreviewDto,
  ): Promise<TemplatePreviewResponseDto> {
    return this.templates.preview(externalId, dto.variables);
  }
}
