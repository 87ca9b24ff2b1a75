import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiKeyAuth } from 'src/common/decorators/api-key-auth.decorator';
import { AllowSendScope } from 'src/common/decorators/route-policy.decorators';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import {
  MessageListQueryDto,
  MessageListResponseDto,
} from 'src/modules/emails/dto/message-list.dto';
import {
  BatchCanceledResponseDto,
  MessageCanceledResponseDto,
  MessageRescheduleDto,
  MessageRescheduledResponseDto,
} from 'src/modules/emails/dto/message-control.dto';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';
import {
  BatchProgressResponseDto,
  SendBatchDto,
  SendBatchResponseDto,
} from 'src/modules/emails/dto/send-batch.dto';
import { SendEmailDto, SendEmailResponseDto } from 'src/modules/emails/dto/send-email.dto';
import type { AuthenticatedKey } from 'src/modules/auth/api-keys.service';
import { CancelService } from 'src/modules/emails/cancel.service';
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
  constructor(
    private readonly emails: EmailsService,
    private readonly control: CancelService,
  ) {}

  @Post('send')
  @HttpCode(202)
  @AllowSendScope()
  @ApiOperation({
    operationId: 'sendEmail',
    summary: 'Send one email (template or inline content)',
    description: 'A JSON body of at most 1 MB.',
  })
  @ApiBody({
    type: SendEmailDto,
    examples: {
      template: {
        summary: 'With a template',
        value: {
          to: { email: 'ann@example.com', name: 'Ann Example' },
          template_id: 'welcome',
          variables: { first_name: 'Ann' },
          campaign_id: 'spring-2026',
        },
      },
      inline: {
        summary: 'Inline content, scheduled',
        value: {
          to: 'ann@example.com',
          from: 'Shop <news@shop.example>',
          subject: 'Hi {{first_name}}',
          html: '<p>Hello {{first_name}}</p>',
          variables: { first_name: 'Ann' },
          send_at: '2026-12-01T09:00:00Z',
        },
      },
    },
  })
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiResponse({ status: 202, type: SendEmailResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503)
  async send(
    @ApiKeyAuth() key: AuthenticatedKey,
    @Res({ passthrough: true }) res: Response,
    @Body() dto: SendEmailDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendEmailResponseDto> {
    const accepted = await this.emails.send(
      { apiKeyId: key.id, idempotencyKey: IdempotencyService.validateKey(idempotencyKey) },
      dto,
    );
    return answer(res, accepted);
  }

  @Post('batch')
  @HttpCode(202)
  @AllowSendScope()
  @ApiOperation({
    operationId: 'sendBatch',
    summary: 'Send one message to each of 1 to 10,000 recipients',
    description:
      'A JSON body of at most 10 MB. Invalid, duplicate and suppressed recipients are listed ' +
      'in `rejected` one by one; the others are accepted.',
  })
  @ApiBody({
    type: SendBatchDto,
    examples: {
      batch: {
        summary: 'A template to two recipients',
        value: {
          template_id: 'welcome',
          variables: { shop: 'Acme' },
          recipients: [
            { to: 'ann@example.com', variables: { first_name: 'Ann' } },
            { to: { email: 'bob@example.com', name: 'Bob' }, variables: { first_name: 'Bob' } },
          ],
        },
      },
    },
  })
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiResponse({ status: 202, type: SendBatchResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503)
  async batch(
    @ApiKeyAuth() key: AuthenticatedKey,
    @Res({ passthrough: true }) res: Response,
    @Body() dto: SendBatchDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<SendBatchResponseDto> {
    const accepted = await this.emails.sendBatch(
      { apiKeyId: key.id, idempotencyKey: IdempotencyService.validateKey(idempotencyKey) },
      dto,
    );
    return answer(res, accepted);
  }

  @Get('batches/:batch_id')
  @AllowSendScope()
  @ApiOperation({
    operationId: 'getBatchProgress',
    summary: 'Progress of a batch: totals by status',
  })
  @ApiResponse({ status: 200, type: BatchProgressResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  batchProgress(@Param('batch_id') batchId: string): Promise<BatchProgressResponseDto> {
    return this.emails.batchProgress(batchId);
  }

  @Post('batches/:batch_id/cancel')
  @HttpCode(200)
  @AllowSendScope()
  @ApiOperation({
    operationId: 'cancelBatch',
    summary: 'Cancel what is left of a batch',
    description:
      'Cancels every message of the batch not yet handed to Postal (queued, scheduled, ' +
      'retry_scheduled). Messages being sent at that moment are not canceled; `by_status` ' +
      'says where every message of the batch stands.',
  })
  @ApiResponse({ status: 200, type: BatchCanceledResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  cancelBatch(@Param('batch_id') batchId: string): Promise<BatchCanceledResponseDto> {
    return this.control.cancelBatch(batchId);
  }

  @Delete('messages/:message_id')
  @AllowSendScope()
  @ApiOperation({
    operationId: 'cancelMessage',
    summary: 'Cancel a message not yet handed to Postal',
    description:
      'A queued, scheduled or retry_scheduled message becomes `canceled` (final). A message ' +
      'being sent or already sent is a 409 `message_not_pending` naming its status; canceling ' +
      'a canceled message answers 200 again.',
  })
  @ApiResponse({ status: 200, type: MessageCanceledResponseDto })
  @ApiErrorResponses(401, 403, 404, 409, 429)
  cancel(@Param('message_id') messageId: string): Promise<MessageCanceledResponseDto> {
    return this.control.cancel(messageId);
  }

  @Patch('messages/:message_id')
  @AllowSendScope()
  @ApiOperation({
    operationId: 'rescheduleMessage',
    summary: 'Give a queued message another send_at',
    description:
      'Only while the message is queued (scheduled or waiting for its turn); otherwise a 409 ' +
      '`message_not_pending` naming its status.',
  })
  @ApiBody({
    type: MessageRescheduleDto,
    examples: {
      later: { summary: 'Send on Christmas Eve', value: { send_at: '2026-12-24T09:00:00Z' } },
    },
  })
  @ApiResponse({ status: 200, type: MessageRescheduledResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 409, 429)
  reschedule(
    @Param('message_id') messageId: string,
    @Body() dto: MessageRescheduleDto,
  ): Promise<MessageRescheduledResponseDto> {
    return this.control.reschedule(messageId, dto.send_at);
  }

  @Get('status/:message_id')
  @AllowSendScope()
  @ApiOperation({
    operationId: 'getMessageStatus',
    summary: 'Status of one message with its event timeline',
  })
  @ApiResponse({ status: 200, type: MessageStatusResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  status(@Param('message_id') messageId: string): Promise<MessageStatusResponseDto> {
    return this.emails.getStatus(messageId);
  }

  @Get('messages')
  @ApiOperation({
    operationId: 'listMessages',
    summary: 'Messages, newest first, with filters and keyset pagination',
  })
  @ApiResponse({ status: 200, type: MessageListResponseDto })
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
