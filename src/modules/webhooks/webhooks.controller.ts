import { Body, Controller, HttpCode, Logger, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { timingSafeEqual, createHash } from 'node:crypto';
import { Public, SkipIpLimit } from 'src/common/decorators/route-policy.decorators';
import { AppError, UnauthorizedError, ValidationFailedError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import type { RequestWithRawBody } from 'src/common/http/http-edge';
import { checkBasicAuth } from 'src/common/http/basic-auth';
import { AppConfig } from 'src/config/app-config';
import { parseInboundPostalPayload, ArfParseError } from 'src/modules/webhooks/arf-parser';
import { ComplaintsService } from 'src/modules/webhooks/complaints.service';
import { ComplaintCreateDto, ComplaintResponseDto } from 'src/modules/webhooks/dto/complaint.dto';
import {
  WebhookSignatureVerifier,
  WebhookVerificationNotConfiguredError,
} from 'src/modules/webhooks/webhook-signature.verifier';
import { parseEnvelope, WebhooksService } from 'src/modules/webhooks/webhooks.service';

/** 500 when no verification key is configured at all (SPEC §7): an operator must fix it. */
class WebhookNotConfiguredError extends AppError {
  constructor() {
    super(500, 'internal_error', 'Webhook signature verification is not configured');
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

@ApiTags('webhooks')
@Controller('api/v1')
export class WebhooksController {
  private readonly logger = new Logger(WebhooksController.name);

  constructor(
    private readonly webhooks: WebhooksService,
    private readonly verifier: WebhookSignatureVerifier,
    private readonly complaints: ComplaintsService,
    private readonly config: AppConfig,
  ) {}

  @Post('webhook')
  @Public()
  @SkipIpLimit()
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Postal's webhooks (RSA-signed over the raw body); stored, answered at once, processed in a queue",
  })
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
    summary: "Postal's inbound HTTP endpoint for the abuse/FBL address: ARF complaint reports",
    description:
      'Authenticated by a Postal signature, /inbound/postal/<INBOUND_SECRET>, or Basic auth with INBOUND_SECRET as the password.',
  })
  @ApiErrorResponses(400, 401)
  async inbound(
    @Req() req: RequestWithRawBody,
    @Param('token') token?: string,
  ): Promise<{
    status: 'complained' | 'already_complained' | 'unmatched' | 'ignored';
    message_id?: string | null;
    reason?: string;
  }> {
    const raw = this.inboundSecretMatches(req, token) ? this.rawOf(req) : await this.verified(req);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ValidationFailedError('Malformed JSON in inbound body');
    }
    let report;
    try {
      report = await parseInboundPostalPayload(body);
    } catch (err) {
      if (!(err instanceof ArfParseError)) throw err;
      // Mail to the abuse address that is not a report: accept it (no Postal retries), log it.
      this.logger.warn(`inbound message ignored: ${err.message}`);
      return { status: 'ignored', reason: err.message };
    }
    const result = await this.complaints.fromArf(report);
    if (!result.matched) return { status: 'unmatched', message_id: null };
    return {
      status: result.complained ? 'complained' : 'already_complained',
      message_id: result.message_id,
    };
  }

  @Post('complaints')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Record a complaint for a message or an address (suppresses it)' })
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

  private async verified(req: RequestWithRawBody): Promise<Buffer> {
    const raw = this.rawOf(req);
    let check;
    try {
      check = await this.verifier.verify(raw, req.headers);
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

  private inboundSecretMatches(req: RequestWithRawBody, token: string | undefined): boolean {
    const secret = this.config.postal.inboundSecret;
    if (!secret) return false;
    if (token !== undefined) return timingSafeEqual(digest(token), digest(secret));
    const auth = req.headers.authorization;
    if (!auth) return false;
    const user = /^Basic\s+(\S+)/i.exec(auth)?.[1];
    const name = user ? Buffer.from(user, 'base64').toString('utf8').split(':')[0] : '';
    return checkBasicAuth(auth, name, secret);
  }
}
