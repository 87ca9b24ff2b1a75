import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { idCursor } from 'src/common/pagination/keyset-cursor';
import {
  NotFoundError,
  RecipientSuppressedError,
  TemplateNotFoundError,
  ValidationFailedError,
} from 'src/common/errors/app-error';
import { resolveStream, type Stream } from 'src/common/streams';
import { AppConfig } from 'src/config/app-config';
import {
  BlacklistService,
  emailHash,
  normalizeEmail,
} from 'src/modules/blacklist/blacklist.service';
import {
  BatchProgressResponseDto,
  BatchRejectCode,
  BatchRejectDto,
  SendBatchDto,
  SendBatchResponseDto,
} from 'src/modules/emails/dto/send-batch.dto';
import { isRecipient } from 'src/modules/emails/dto/email-validators';
import {
  EmailContentDto,
  SendEmailDto,
  SendEmailResponseDto,
} from 'src/modules/emails/dto/send-email.dto';
import {
  MessageListQueryDto,
  MessageListResponseDto,
  MessageSummaryDto,
} from 'src/modules/emails/dto/message-list.dto';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { EmailLog } from 'src/modules/emails/email-log.entity';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { MessageWritesRepository } from 'src/modules/emails/message-writes.repository';
import { IdempotencyClaim, IdempotencyService } from 'src/modules/emails/idempotency.service';
import { formatMailbox, parseMailbox } from 'src/modules/emails/mailbox';
import { MessageDetails, NewMessage } from 'src/modules/emails/message-details';
import { BatchRepository } from 'src/modules/emails/batch.repository';
import { TemplatesService } from 'src/modules/templates/templates.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null | undefined): string | null => (d ? new Date(d).toISOString() : null);

export interface AcceptContext {
  apiKeyId: number;
  idempotencyKey?: string;
}

/** What a controller answers: the status code and body (a replay answers the original). */
export interface Accepted<T> {
  statusCode: number;
  body: T;
  replayed: boolean;
}

interface ResolvedContent {
  templateId: number;
  templateExternalId: string | null;
  subjectOverride: string | null;
  from: string;
  /** The stored template's stream, the default of its messages (README "Streams"). */
  templateStream: Stream | null;
}

/**
 * Accepting mail (README "Sending"; docs/ARCHITECTURE.md "Accept") and reading it back.
 * Delivery lives in DeliveryService.
 */
@Injectable()
export class EmailsService {
  constructor(
    private readonly logs: MessageReadsRepository,
    private readonly writes: MessageWritesRepository,
    private readonly batches: BatchRepository,
    private readonly templates: TemplatesService,
    private readonly blacklist: BlacklistService,
    private readonly idempotency: IdempotencyService,
    private readonly producer: EmailDeliveryProducer,
    private readonly config: AppConfig,
  ) {}

  async send(ctx: AcceptContext, dto: SendEmailDto): Promise<Accepted<SendEmailResponseDto>> {
    return this.idempotent(ctx, '/api/v1/send', dto, async (complete) => {
      const to =
        typeof dto.to === 'string'
          ? { email: dto.to, name: null }
          : { email: dto.to.email, name: dto.to.name ?? null };
      const recipient = to.email.trim();
      const content = await this.resolveContent(dto, [dto.variables]);
      const stream = resolveStream(dto.stream, content.templateStream, 'transactional');
      if (ctx.idempotencyKey) {
        const suppressed = await this.blacklist.check(recipient, stream);
        if (suppressed) throw new RecipientSuppressedError(suppressed.reason);
      }
      const message = this.newMessage(
        ctx,
        dto,
        content,
        stream,
        recipient,
        to.name,
        null,
        dto.variables ?? {},
      );
      const body: SendEmailResponseDto = {
        message_id: message.externalMessageId,
        status: 'queued',
        send_at: iso(message.sendAt),
      };
      // The row (and the idempotent response) are committed before the 202 is sent. Without
      // an Idempotency-Key it is one INSERT statement that also re-checks the suppression list
      // (shared with concurrent requests): atomic without an explicit transaction.
      if (ctx.idempotencyKey) {
        await this.writes.transaction(async (em) => {
          await this.writes.insertMessages(em, [message]);
          await complete(em, 202, body);
        });
      } else if (
        !(await this.writes.insertMessageUnlessSuppressed(message, emailHash(recipient)))
      ) {
        // Suppressed: the insert's own check refused it; look up why for the answer.
        const suppressed = await this.blacklist.check(recipient, stream);
        throw new RecipientSuppressedError(suppressed?.reason ?? 'suppressed');
      }
      await this.producer.enqueueOne({
        messageId: message.externalMessageId,
        sendAt: message.sendAt,
        domain: domainOf(message.recipient),
        stream,
      });
      return body;
    });
  }

  async sendBatch(ctx: AcceptContext, dto: SendBatchDto): Promise<Accepted<SendBatchResponseDto>> {
    return this.idempotent(ctx, '/api/v1/batch', dto, async (complete) => {
      // Every recipient's variables bound the render cost (README "Security": template limits).
      const content = await this.resolveContent(dto, [
        dto.variables,
        ...dto.recipients.map((r) => (r as { variables?: unknown }).variables),
      ]);
      const stream = resolveStream(dto.stream, content.templateStream, 'broadcast');
      const rejected: BatchRejectDto[] = [];
      const candidates: Array<{
        index: number;
        email: string;
        name: string | null;
        variables: Record<string, unknown>;
      }> = [];
      const seen = new Set<string>();
      dto.recipients.forEach((r, index) => {
        if (!isRecipient(r.to)) return rejected.push(batchReject(index, r.to, 'invalid_recipient'));
        const email = (typeof r.to === 'string' ? r.to : (r.to as { email: string }).email).trim();
        const name = typeof r.to === 'object' ? ((r.to as { name?: string }).name ?? null) : null;
        const norm = normalizeEmail(email);
        if (seen.has(norm)) return rejected.push(batchReject(index, r.to, 'duplicate_recipient'));
        seen.add(norm);
        candidates.push({
          index,
          email,
          name,
          variables: { ...(dto.variables ?? {}), ...(r.variables ?? {}) },
        });
      });
      const suppressed = await this.blacklist.findSuppressed(
        candidates.map((c) => c.email),
        stream,
      );
      const batchId = randomUUID();
      const accepted: Array<{ index: number; message: NewMessage }> = [];
      for (const c of candidates) {
        if (suppressed.has(normalizeEmail(c.email))) {
          rejected.push(batchReject(c.index, dto.recipients[c.index].to, 'recipient_suppressed'));
          continue;
        }
        accepted.push({
          index: c.index,
          message: this.newMessage(
            ctx,
            dto,
            content,
            stream,
            c.email,
            c.name,
            batchId,
            c.variables,
          ),
        });
      }
      rejected.sort((a, b) => a.index - b.index);
      const body: SendBatchResponseDto = {
        batch_id: batchId,
        accepted: accepted.length,
        rejected,
        messages: accepted.map((a) => ({
          index: a.index,
          to: a.message.recipient,
          message_id: a.message.externalMessageId,
        })),
      };
      await this.writes.transaction(async (em) => {
        await this.batches.insert(em, {
          id: batchId,
          apiKeyId: ctx.apiKeyId,
          campaignId: dto.campaign_id ?? null,
          total: dto.recipients.length,
          accepted: accepted.length,
          rejected: rejected.length,
        });
        await this.writes.insertMessages(
          em,
          accepted.map((a) => a.message),
        );
        await complete(em, 202, body);
      });
      await this.producer.enqueue(
        accepted.map((a) => ({
          messageId: a.message.externalMessageId,
          sendAt: a.message.sendAt,
          domain: domainOf(a.message.recipient),
          stream,
        })),
      );
      return body;
    });
  }

  async batchProgress(batchId: string): Promise<BatchProgressResponseDto> {
    const batch = UUID.test(batchId) ? await this.batches.find(batchId.toLowerCase()) : null;
    if (!batch) throw new NotFoundError(`Batch ${batchId} not found`);
    return {
      batch_id: batch.id,
      campaign_id: batch.campaignId,
      total: batch.total,
      accepted: batch.accepted,
      rejected: batch.rejected,
      by_status: await this.logs.countByStatusForBatch(batch.id),
      created_at: batch.createdAt.toISOString(),
    };
  }

  /** A message's status and event timeline (README "Sending"); unknown or malformed id → 404. */
  async getStatus(messageId: string): Promise<MessageStatusResponseDto> {
    if (!UUID.test(messageId)) throw new NotFoundError(`Message ${messageId} not found`);
    const log = await this.logs.findByMessageId(messageId.toLowerCase());
    if (!log) throw new NotFoundError(`Message ${messageId} not found`);
    const events = await this.logs.eventsOf(log.id);
    return {
      ...toSummary(log),
      events: events.map((e) => ({
        type: e.eventType,
        occurred_at: e.occurredAt.toISOString(),
        details: e.details,
      })),
    };
  }

  async listMessages(q: MessageListQueryDto): Promise<MessageListResponseDto> {
    const limit = q.limit ?? 50;
    const rows = await this.logs.list({
      status: q.status,
      recipient: q.recipient,
      campaignId: q.campaign_id,
      domain: q.domain,
      batchId: q.batch_id,
      stream: q.stream,
      from: timeBound(q.created_after, q.from, 'created_after', 'from'),
      to: timeBound(q.created_before, q.to, 'created_before', 'to'),
      limit: limit + 1,
      beforeId: q.cursor ? MESSAGE_CURSOR.decode(q.cursor) : undefined,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toSummary),
      next_cursor: rows.length > limit && last ? MESSAGE_CURSOR.encode(last.id) : null,
    };
  }

  /** `variableSets`: every set of variables the content will be rendered with. */
  private async resolveContent(
    dto: EmailContentDto,
    variableSets: ReadonlyArray<unknown>,
  ): Promise<ResolvedContent> {
    const from = dto.from ?? this.config.defaultFrom;
    if (!from) {
      throw new ValidationFailedError('from is required (no DEFAULT_FROM is configured)', [
        { field: 'from', message: 'from is required (no DEFAULT_FROM is configured)' },
      ]);
    }
    const mailbox = parseMailbox(from);
    if (!mailbox) throw new ValidationFailedError('DEFAULT_FROM is not a valid address');
    if (dto.template_id) {
      if (dto.html !== undefined || dto.text !== undefined) {
        throw new ValidationFailedError('Give either template_id or inline html/text, not both', [
          { field: 'template_id', message: 'cannot be combined with html or text' },
        ]);
      }
      const template = await this.templates.findActive(dto.template_id);
      if (!template) throw new TemplateNotFoundError(dto.template_id);
      if (dto.subject !== undefined) {
        await this.templates.assertCompiles({ subject: dto.subject }, variableSets);
      }
      await this.templates.assertRenderable(template, variableSets);
      return {
        templateId: template.id,
        templateExternalId: template.externalId,
        subjectOverride: dto.subject ?? null,
        from: formatMailbox(mailbox),
        templateStream: template.stream ?? null,
      };
    }
    if (!dto.html && !dto.text) {
      throw new ValidationFailedError('Give a template_id or inline html and/or text', [
        { field: 'html', message: 'html or text is required when no template_id is given' },
      ]);
    }
    if (!dto.subject) {
      throw new ValidationFailedError('subject is required with inline content', [
        { field: 'subject', message: 'subject is required with inline content' },
      ]);
    }
    const src = { subject: dto.subject, html: dto.html ?? null, text: dto.text ?? null };
    await this.templates.assertCompiles(src, variableSets);
    const templateId = await this.templates.upsertInline(src);
    return {
      templateId,
      templateExternalId: null,
      subjectOverride: null,
      from: formatMailbox(mailbox),
      templateStream: null,
    };
  }

  private newMessage(
    ctx: AcceptContext,
    dto: EmailContentDto,
    content: ResolvedContent,
    stream: Stream,
    recipient: string,
    toName: string | null,
    batchId: string | null,
    variables: Record<string, unknown>,
  ): NewMessage {
    const sendAt =
      dto.send_at && Date.parse(dto.send_at) > Date.now() ? new Date(dto.send_at) : null;
    const details: MessageDetails = {
      template_id: content.templateExternalId,
      variables,
      ...(dto.headers ? { headers: dto.headers } : {}),
      ...(dto.reply_to ? { reply_to: dto.reply_to } : {}),
      ...(toName ? { to_name: toName } : {}),
      ...(content.subjectOverride ? { subject_override: content.subjectOverride } : {}),
      options: {
        track_opens: dto.track_opens ?? this.config.tracking.opens,
        track_clicks: dto.track_clicks ?? this.config.tracking.clicks,
        // README "Streams": List-Unsubscribe on broadcast mail, on transactional when asked.
        unsubscribe: dto.unsubscribe ?? stream === 'broadcast',
      },
    };
    return {
      externalMessageId: randomUUID(),
      apiKeyId: ctx.apiKeyId,
      templateId: content.templateId,
      batchId,
      campaignId: dto.campaign_id ?? null,
      tag: dto.tag ?? null,
      stream,
      recipient,
      sender: content.from,
      subject: null,
      sendAt,
      details,
    };
  }

  /** Wraps an accept path in Idempotency-Key handling (claim → work → stored response). */
  private async idempotent<T>(
    ctx: AcceptContext,
    route: string,
    dto: object,
    work: (
      complete: (em: import('typeorm').EntityManager, status: number, body: T) => Promise<void>,
    ) => Promise<T>,
  ): Promise<Accepted<T>> {
    if (!ctx.idempotencyKey) {
      const body = await work(async () => undefined);
      return { statusCode: 202, body, replayed: false };
    }
    const claim: IdempotencyClaim = await this.idempotency.claim(
      ctx.apiKeyId,
      ctx.idempotencyKey,
      IdempotencyService.hashRequest(route, dto),
    );
    if (claim.kind === 'replay')
      return { statusCode: claim.statusCode, body: claim.body as T, replayed: true };
    try {
      const body = await work((em, status, b) => this.idempotency.complete(em, claim, status, b));
      return { statusCode: 202, body, replayed: false };
    } catch (err) {
      await this.idempotency.release(claim).catch(() => undefined);
      throw err;
    }
  }
}

const BATCH_REJECT_MESSAGES: Record<BatchRejectCode, string> = {
  invalid_recipient: 'to must be an email address or {"email", "name"}',
  duplicate_recipient: 'the same address appears earlier in recipients',
  recipient_suppressed: 'the address is on the suppression list',
};

/**
 * One rejected batch recipient (README "Sending"). `to` is always a string or null, whatever
 * the caller sent (a number, an array, an object), so the answer has one documented type.
 */
function batchReject(index: number, to: unknown, code: BatchRejectCode): BatchRejectDto {
  const email =
    to !== null && typeof to === 'object' ? (to as { email?: unknown }).email : undefined;
  const shown = typeof to === 'string' ? to : typeof email === 'string' ? email : null;
  return { index, to: shown, code, message: BATCH_REJECT_MESSAGES[code] };
}

/** A list time filter given by its name or its deprecated alias (not both). */
function timeBound(
  value: string | undefined,
  alias: string | undefined,
  name: string,
  aliasName: string,
): Date | undefined {
  if (value !== undefined && alias !== undefined) {
    const message = `${aliasName} is a deprecated alias of ${name}; give one of them`;
    throw new ValidationFailedError(message, [{ field: aliasName, message }]);
  }
  const given = value ?? alias;
  return given === undefined ? undefined : new Date(given);
}

/** As PostgreSQL computes recipient_domain: the part after the last @, lower-cased. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function toSummary(log: EmailLog): MessageSummaryDto {
  const templateRef = (log.statusDetails as Partial<MessageDetails> | null)?.template_id;
  return {
    message_id: log.externalMessageId,
    status: log.status,
    recipient: log.recipient,
    from: log.sender,
    subject: log.subject,
    batch_id: log.batchId,
    campaign_id: log.campaignId,
    tag: log.tag,
    stream: log.stream,
    template_id: typeof templateRef === 'string' ? templateRef : null,
    bounce_type: log.bounceType,
    bounce_reason: log.bounceReason,
    smtp_code: log.smtpCode,
    error_message: log.errorMessage,
    retry_count: log.retryCount,
    next_retry_at: iso(log.nextRetryAt),
    send_at: iso(log.sendAt),
    sent_at: iso(log.sentAt),
    delivered_at: iso(log.deliveredAt),
    opened_at: iso(log.openedAt),
    clicked_at: iso(log.clickedAt),
    created_at: iso(log.createdAt)!,
    updated_at: iso(log.updatedAt)!,
  };
}

/** `GET /api/v1/messages` (and the dashboard's logs page): the last row's email_logs.id (bigint). */
const MESSAGE_CURSOR = idCursor('bigint', { prefix: 'm:' });
