import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ApiWebhooks } from 'src/common/http/openapi-webhooks';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import {
  EmailEventDataDto,
  EmailEventPayloadDto,
  EVENT_WEBHOOKS_OPENAPI,
} from 'src/modules/event-webhooks/dto/event-payload.dto';
import {
  WebhookDeliveryListQueryDto,
  WebhookEndpointListQueryDto,
  WebhookReplayDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-query.dto';
import {
  WebhookDeliveryDetailResponseDto,
  WebhookDeliveryListResponseDto,
  WebhookDeliveryResponseDto,
  WebhookEndpointCreatedResponseDto,
  WebhookEndpointListResponseDto,
  WebhookEndpointRemoveResponseDto,
  WebhookEndpointResponseDto,
  WebhookReplayResponseDto,
  WebhookSecretRotatedResponseDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-response.dto';
import {
  WebhookEndpointCreateDto,
  WebhookEndpointUpdateDto,
} from 'src/modules/event-webhooks/dto/webhook-endpoint-write.dto';
import { EventWebhooksService } from 'src/modules/event-webhooks/event-webhooks.service';

/** Endpoints for event webhooks to the customer's app (README "Event webhooks"); scope `full`. */
@ApiTags('event webhooks')
@ApiBearerAuth()
@ApiExtraModels(EmailEventPayloadDto, EmailEventDataDto)
@ApiWebhooks(EVENT_WEBHOOKS_OPENAPI)
@Controller('api/v1/webhook-endpoints')
export class EventWebhooksController {
  constructor(private readonly service: EventWebhooksService) {}

  @Post()
  @ApiOperation({
    operationId: 'createWebhookEndpoint',
    summary: 'Add an endpoint; the answer carries its signing secret, shown only here',
  })
  @ApiResponse({ status: 201, type: WebhookEndpointCreatedResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  create(@Body() body: WebhookEndpointCreateDto): Promise<WebhookEndpointCreatedResponseDto> {
    return this.service.create(body);
  }

  @Get()
  @ApiOperation({ operationId: 'listWebhookEndpoints', summary: 'Endpoints, newest first' })
  @ApiResponse({ status: 200, type: WebhookEndpointListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() query: WebhookEndpointListQueryDto): Promise<WebhookEndpointListResponseDto> {
    return this.service.list(query);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWebhookEndpoint', summary: 'One endpoint and its health' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: WebhookEndpointResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  get(@Param('id') id: string): Promise<WebhookEndpointResponseDto> {
    return this.service.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    operationId: 'updateWebhookEndpoint',
    summary: 'Change an endpoint; `enabled: true` re-enables one disabled by a 410 or failures',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: WebhookEndpointResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  update(
    @Param('id') id: string,
    @Body() body: WebhookEndpointUpdateDto,
  ): Promise<WebhookEndpointResponseDto> {
    return this.service.update(id, body);
  }

  @Delete(':id')
  @ApiOperation({
    operationId: 'deleteWebhookEndpoint',
    summary: 'Delete an endpoint and its deliveries',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: WebhookEndpointRemoveResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  async remove(@Param('id') id: string): Promise<WebhookEndpointRemoveResponseDto> {
    await this.service.remove(id);
    return { id, deleted: true };
  }

  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'rotateWebhookEndpointSecret',
    summary: 'A new secret; the old one keeps signing alongside it for 24 hours',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: WebhookSecretRotatedResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  rotateSecret(@Param('id') id: string): Promise<WebhookSecretRotatedResponseDto> {
    return this.service.rotateSecret(id);
  }

  @Get(':id/deliveries')
  @ApiOperation({
    operationId: 'listWebhookDeliveries',
    summary: 'The attempts log: deliveries newest first, with their last attempt',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: WebhookDeliveryListResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  deliveries(
    @Param('id') id: string,
    @Query() query: WebhookDeliveryListQueryDto,
  ): Promise<WebhookDeliveryListResponseDto> {
    return this.service.listDeliveries(id, query);
  }

  @Get(':id/deliveries/:delivery_id')
  @ApiOperation({
    operationId: 'getWebhookDelivery',
    summary: 'One delivery with every attempt: when, how long, the answer or the error',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiParam({ name: 'delivery_id', example: '1042' })
  @ApiResponse({ status: 200, type: WebhookDeliveryDetailResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  delivery(
    @Param('id') id: string,
    @Param('delivery_id') deliveryId: string,
  ): Promise<WebhookDeliveryDetailResponseDto> {
    return this.service.getDelivery(id, deliveryId);
  }

  @Post(':id/deliveries/:delivery_id/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    operationId: 'retryWebhookDelivery',
    summary: 'Attempt one delivery again now (same webhook-id)',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiParam({ name: 'delivery_id', example: '1042' })
  @ApiResponse({ status: 202, type: WebhookDeliveryResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  retry(
    @Param('id') id: string,
    @Param('delivery_id') deliveryId: string,
  ): Promise<WebhookDeliveryResponseDto> {
    return this.service.retryDelivery(id, deliveryId);
  }

  @Post(':id/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    operationId: 'replayWebhookEvents',
    summary: 'Deliver again every event of a time window (after an outage on your side)',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 202, type: WebhookReplayResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  replay(
    @Param('id') id: string,
    @Body() body: WebhookReplayDto,
  ): Promise<WebhookReplayResponseDto> {
    return this.service.replay(id, body);
  }
}
