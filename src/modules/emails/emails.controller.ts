import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AllowSendScope } from 'src/common/decorators/route-policy.decorators';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import type { ApiRequest } from 'src/common/http/api-request';
import {
  MessageListQueryDto,
  MessageListResponseDto,
} from 'src/modules/emails/dto/message-list.dto';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';
import {
  BatchProgressResponseDto,
  SendBatchDto,
  SendBatchResponseDto,
} from 'src/modules/emails/dto/send-batch.dto';
import { SendEmailDto, SendEmailResponseDto } from 'src/modules/emails/dto/send-email.dto';
import { Accepted, EmailsService } from 'src/modules/emails/emails.service';
import { IdempotencyService } from 'src/modules/emails/idempotency.service';

const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Up to 256 characters, kept 24 h per API key: the same key and body replay the first answer',
};

@ApiTags('emails')
@ApiBearerAuth()
@Controller('api/v1')
export class EmailsController {
  constructor(private readonly emails: EmailsService) {}

  @Post('send')
  @HttpCode(202)
  @AllowSendScope()
  @ApiOperation({ summary: 'Send one email (template or inline content)' })
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiResponse({ status: 202, type: SendEmailResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503)
  async send(
    @Req() req: ApiRequest,
    @Res({ passthrough: true }) res: Response,
    @Body() dto: SendEmailDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendEmailResponseDto> {
    const accepted = await this.emails.send(
      { apiKeyId: req.apiKey!.id, idempotencyKey: IdempotencyService.validateKey(idempotencyKey) },
      dto,
    );
    return answer(res, accepted);
  }

  @Post('batch')
  @HttpCode(202)
  @AllowSendScope()
  @ApiOperation({ summary: 'Send one message to each of 1 to 10,000 recipients' })
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiResponse({ status: 202, type: SendBatchResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503)
  async batch(
    @Req() req: ApiRequest,
    @Res({ passthrough: true }) res: Response,
    @Body() dto: SendBatchDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendBatchResponseDto> {
    const accepted = await this.emails.sendBatch(
      { apiKeyId: req.apiKey!.id, idempotencyKey: IdempotencyService.validateKey(idempotencyKey) },
      dto,
    );
    return answer(res, accepted);
  }

  @Get('batches/:batch_id')
  @AllowSendScope()
  @ApiOperation({ summary: 'Progress of a batch: totals by status' })
  @ApiErrorResponses(401, 403, 404, 429)
  batchProgress(@Param('batch_id') batchId: string): Promise<BatchProgressResponseDto> {
    return this.emails.batchProgress(batchId);
  }

  @Get('status/:message_id')
  @AllowSendScope()
  @ApiOperation({ summary: 'Status of one message with its event timeline' })
  @ApiErrorResponses(401, 403, 404, 429)
  status(@Param('message_id') messageId: string): Promise<MessageStatusResponseDto> {
    return this.emails.getStatus(messageId);
  }

  @Get('messages')
  @ApiOperation({ summary: 'Messages, newest first, with filters and keyset pagination' })
  @ApiErrorResponses(400, 401, 403, 429)
  messages(@Query() query: MessageListQueryDto): Promise<MessageListResponseDto> {
    return this.emails.listMessages(query);
  }
}

function answer<T>(res: Response, accepted: Accepted<T>): T {
  res.status(accepted.statusCode);
  if (accepted.replayed) res.setHeader('Idempotent-Replayed', 'true');
  return accepted.body;
}
