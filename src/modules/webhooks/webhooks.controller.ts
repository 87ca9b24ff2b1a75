import { Body, Controller, HttpCode, Logger, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Public, SkipIpLimit } from 'src/common/decorators/route-policy.decorators';
import { AppError, UnauthorizedError, ValidationFailedError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import type { RequestWithRawBody } from 'src/common/http/http-edge';
import { inboundSecretMatches } from 'src/common/http/inbound-auth';
import type { RequestWithId } from 'src/common/http/request-id';
import { AppConfig } from 'src/config/app-config';
import { ComplaintsService } from 'src/modules/emails/lifecycle/postal/complaints.service';
import type { FeedbackOutcome } from 'src/modules/webhooks/feedback-report.entity';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';
import { decodeInboundBody, inboundRequestKind } from 'src/modules/webhooks/inbound-body';
import { ComplaintCreateDto, ComplaintResponseDto } from 'src/modules/webhooks/dto/complaint.dto';
import {
  InboundResponseDto,
  WebhookReceivedResponseDto,
} from 'src/modules/webhooks/dto/webhook-response.dto';
import {
  WebhookSignatureVerifier,
  WebhookVerificationNotConfiguredError,
} from 'src/modules/webhooks/webhook-signature.verifier';
import { parseEnvelope, WebhooksService } from 'src/modules/webhooks/webhooks.service';
import type { RequestWithSignatureCheck } from 'src/modules/webhooks/webhook-ingest-lane';

/** 500 when no verification key is configured at all (README "Postal set-up"): operators fix it. */
class WebhookNotConfiguredError extends AppError {
  constructor() {
    super('internal_error', 'Webhook signature verification is not configured');
  }
}

@ApiTags('webhooks')
@Controller('api/v1')
export class WebhooksController {
  private readonly logger = new Logger(WebhooksController.name);

  constructor(
    private readonly webhooks: WebhooksService,
    private readonly verifier: WebhookSignatureVerifier,
    private readonly complaints: ComplaintsService,
    private readonly feedback: FeedbackReportsService,
    private readonly config: AppConfig,
  ) {}

  @Post('webhook')
  @Public()
  @SkipIpLimit()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'receivePostalWebhook',
    summary:
      "Postal's webhooks (RSA-signed over the raw body); stored, answered at once, processed in a queue",
  })
  @ApiResponse({ status: 200, type: WebhookReceivedResponseDto })
  @ApiErrorResponses(400, 401)
  async postal(@Req() req: RequestWithRawBody): Promise<{ status: 'ok' | 'duplicate' }> {
    const raw = await this.verified(req);
    const { duplicate } = await this.webhooks.receive(parseEnvelope(raw));
    return { status: duplicate ? 'duplicate' : 'ok' };
  }

  @Post(['inbound/postal', 'inbound/postal/:token'])
  @Public()
  @SkipIpLimit()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'receiveInboundReport',
    summary: "Postal's inbound HTTP endpoint for the abuse/FBL address: ARF feedback reports",
    description:
      'Authenticated by /inbound/postal/<INBOUND_SECRET>, Basic auth with INBOUND_SECRET as the ' +
      'password, or a Postal signature; a request with none of them is refused before its ' +
      'body is read. Takes every HTTP endpoint setting of Postal: BodyAsJSON or FormData, ' +
      'RawMessage or Hash. Every report is kept (GET /api/v1/feedback-reports); an ' +
      'authenticated request that cannot be read is kept too and still answered 200, since ' +
      'Postal never retries a 4xx.',
  })
  @ApiResponse({ status: 200, type: InboundResponseDto })
  @ApiErrorResponses(401)
  async inbound(
    @Req() req: RequestWithRawBody,
    @Param('token') token?: string,
  ): Promise<{
    status: FeedbackOutcome;
    message_id?: string | null;
    reason?: string;
    reports?: { status: FeedbackOutcome; message_id: string | null }[];
  }> {
    const raw = inboundSecretMatches(
      this.config.postal.inboundSecret,
      token,
      req.headers.authorization,
    )
      ? (req.rawBody ?? Buffer.alloc(0))
      : await this.verified(req);
    const contentType = String(req.headers['content-type'] ?? '');
    const context = { request: inboundRequestKind(contentType) };

    const body = decodeInboundBody(raw, contentType);
    if (body.error !== undefined) {
      // Authenticated but unreadable: kept for an operator, answered 2xx (Postal treats a 4xx
      // other than 429 as final and would never retry it).
      this.logger.warn(
        { requestId: (req as RequestWithId).id },
        `inbound request not readable: ${body.error}`,
      );
      await this.feedback.record({
        outcome: 'unreadable',
        error: body.error,
        raw,
        details: context,
      });
      return { status: 'unreadable', reason: body.error };
    }

    // Hand over: what the reports mean is decided by the emails module (docs/ARCHITECTURE.md
    // "Postal events"); each report is then stored here with its outcome.
    const inbound = await this.complaints.readInbound(body.value);
    if (inbound.ignored !== undefined) {
      // Mail to the abuse address that is not a report: kept for review, answered 200.
      this.logger.warn(
        { requestId: (req as RequestWithId).id },
        `inbound message ignored: ${inbound.ignored}`,
      );
      await this.feedback.record({
        outcome: 'ignored',
        error: inbound.ignored,
        raw: inbound.message ?? raw,
        details: context,
      });
      return { status: 'ignored', reason: inbound.ignored };
    }

    const { reports } = inbound;
    const message = inbound.message ?? raw;
    const results = [];
    for (const [i, report] of reports.entries()) {
      const { details, ...decision } = await this.complaints.fromArf(report);
      await this.feedback.record({
        ...decision,
        details: {
          ...context,
          ...(reports.length > 1 ? { report_index: i, reports_in_message: reports.length } : {}),
          ...details,
        },
        // The message is kept once, with the first of its reports.
        raw: i === 0 ? message : null,
      });
      results.push({ status: decision.outcome, message_id: decision.messageId });
    }
    return results.length === 1 ? results[0] : { ...results[0], reports: results };
  }

  @Post('complaints')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({
    operationId: 'createComplaint',
    summary: 'Record a complaint for a message or an address (suppresses it)',
  })
  @ApiResponse({ status: 200, type: ComplaintResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  complaint(@Body() dto: ComplaintCreateDto): Promise<ComplaintResponseDto> {
    return this.complaints.fromApi(dto);
  }

  private rawOf(req: RequestWithRawBody): Buffer {
    if (!Buffer.isBuffer(req.rawBody) || req.rawBody.length === 0) {
      throw new ValidationFailedError('Empty request body');
    }
    return req.rawBody;
  }

  private async verified(req: RequestWithSignatureCheck): Promise<Buffer> {
    const raw = this.rawOf(req);
    // Made already when the request came through the ingest lane (webhook-ingest-lane.ts).
    let check = req.postalSignature;
    try {
      check ??= await this.verifier.verify(raw, req.headers);
    } catch (err) {
      if (err instanceof WebhookVerificationNotConfiguredError) {
        this.logger.error(
          'webhook rejected: set POSTAL_WEBHOOK_PUBLIC_KEY, POSTAL_URL (JWKS) or POSTAL_SIGNING_KEY',
        );
        throw new WebhookNotConfiguredError();
      }
      throw err;
    }
    if (!check.ok) {
      throw new UnauthorizedError(
        check.reason === 'missing' ? 'Missing Postal signature' : 'Invalid Postal signature',
      );
    }
    return raw;
  }
}
