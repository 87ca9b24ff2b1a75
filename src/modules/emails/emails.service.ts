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
import { MessageDefaultsService } from 'src/modules/emails/message-defaults.service';
import { MessageDetails, NewMessage } from 'src/modules/emails/message-details';
import { BatchRepository } from 'src/modules/emails/batch.repository';
import { TemplatesService } from 'src/modules/templates/templates.service';
import type { EntityManager } from 'typeorm';
import {
  checkCidReferences,
  PreparedAttachment,
  prepareAttachments,
} from 'src/modules/emails/attachments/attachment-rules';
import type { RecipientRole } from 'src/modules/emails/email-log.entity';

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
  /** The HTML and text sources (template or inline), for the size and `cid:` checks. */
  html: string | null;
  text: string | null;
}

/** A recipient of a send, with how it was addressed. */
interface ComposedRecipient {
  email: string;
  name: string | null;
  role: RecipientRole;
}

/**
 * The distinct recipients of a send, `to` first, then `cc`, then `bcc` (README "Sending"):
 * an address given twice receives one copy, in its first role.
 */
function collectRecipients(dto: SendEmailDto): ComposedRecipient[] {
  const seen = new Set<string>();
  const out: ComposedRecipient[] = [];
  const add = (list: unknown, role: RecipientRole) => {
    for (const r of (Array.isArray(list) ? list : list === undefined ? [] : [list]) as Array<
      string | { email: string; name?: string | null }
    >) {
      const email = (typeof r === 'string' ? r : r.email).trim();
      const key = normalizeEmail(email);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ email, name: typeof r === 'string' ? null : (r.name ?? null), role });
    }
  };
  add(dto.to, 'to');
  add(dto.cc, 'cc');
  add(dto.bcc, 'bcc');
  return out;
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
    private readonly defaults: MessageDefaultsService,
  ) {}

  async send(ctx: AcceptContext, dto: SendEmailDto): Promise<Accepted<SendEmailResponseDto>> {
    return this.idempotent(ctx, '/api/v1/send', dto, async (complete) => {
      const listForm = Array.isArray(dto.to) || dto.cc !== undefined || dto.bcc !== undefined;
      const recipients = collectRecipients(dto);
      const content = await this.resolveContent(dto, [dto.variables]);
      const stream = resolveStream(dto.stream, content.templateStream, 'transactional');
      const attachments = this.prepareAttachments(dto, content);
      if (listForm || attachments.length > 0) {
        return this.sendComposed(
          ctx,
          dto,
          content,
          stream,
          recipients,
          attachments,
          listForm,
          complete,
        );
      }
      const [to] = recipients;
      const recipient = to.email;
      if (ctx.idempotencyKey) {
        const suppressed = await this.blacklist.check(recipient, stream);
        if (suppressed) await this.refuseSuppressed(dto, recipient, suppressed.reason, stream);
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
        await this.refuseSuppressed(dto, recipient, suppressed?.reason ?? 'suppressed', stream);
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

  /**
   * A send with several recipients or attachments (README "Sending"): one delivery record per
   * recipient under one API message id, suppressed recipients dropped and named (all of them
   * suppressed: 422), the attachments stored once, all in one transaction. One record alone
   * is the message itself (its id is the message id), as for a plain send.
   */
  private async sendComposed(
    ctx: AcceptContext,
    dto: SendEmailDto,
    content: ResolvedContent,
    stream: Stream,
    recipients: ComposedRecipient[],
    attachments: PreparedAttachment[],
    listForm: boolean,
    complete: (em: EntityManager, status: number, body: SendEmailResponseDto) => Promise<void>,
  ): Promise<SendEmailResponseDto> {
    const found = await this.blacklist.findSuppressed(
      recipients.map((r) => r.email),
      stream,
    );
    const kept = recipients.filter((r) => !found.has(normalizeEmail(r.email)));
    if (kept.length === 0) {
      throw new RecipientSuppressedError(
        found.get(normalizeEmail(recipients[0].email))?.reason ?? 'suppressed',
      );
    }
    const apiId = randomUUID();
    const attachmentSet = attachments.length > 0 ? randomUUID() : null;
    const toList = recipients.filter((r) => r.role === 'to');
    const ccList = recipients.filter((r) => r.role === 'cc');
    const messages = kept.map((r) => {
      const m = this.newMessage(
        ctx,
        dto,
        content,
        stream,
        r.email,
        r.name,
        null,
        dto.variables ?? {},
      );
      if (listForm) {
        m.details.to_list = toList.map((a) => ({ email: a.email, name: a.name }));
        if (ccList.length > 0) {
          m.details.cc_list = ccList.map((a) => ({ email: a.email, name: a.name }));
        }
      }
      m.recipientRole = r.role;
      m.attachmentSet = attachmentSet;
      if (kept.length === 1) m.externalMessageId = apiId;
      else m.messageId = apiId;
      return m;
    });
    const body: SendEmailResponseDto = {
      message_id: apiId,
      status: 'queued',
      send_at: iso(messages[0].sendAt),
      ...(listForm
        ? {
            recipients: messages.map((m) => ({
              email: m.recipient,
              role: m.recipientRole!,
              recipient_id: m.externalMessageId,
            })),
            suppressed: recipients
              .filter((r) => found.has(normalizeEmail(r.email)))
              .map((r) => ({
                email: r.email,
                role: r.role,
                reason: found.get(normalizeEmail(r.email))!.reason,
              })),
          }
        : {}),
    };
    await this.writes.transaction(async (em) => {
      if (attachmentSet) await this.writes.insertAttachmentSet(em, attachmentSet, attachments);
      await this.writes.insertMessages(em, messages);
      await complete(em, 202, body);
    });
    await this.producer.enqueue(
      messages.map((m) => ({
        messageId: m.externalMessageId,
        sendAt: m.sendAt,
        domain: domainOf(m.recipient),
        stream,
      })),
    );
    return body;
  }

  /** Checks and decodes the request's attachments against MAX_MESSAGE_BYTES and the HTML. */
  private prepareAttachments(dto: EmailContentDto, content: ResolvedContent): PreparedAttachment[] {
    if (dto.attachments === undefined) return [];
    const bodyBytes =
      Buffer.byteLength(content.html ?? '', 'utf8') + Buffer.byteLength(content.text ?? '', 'utf8');
    const prepared = prepareAttachments(dto.attachments, this.defaults.maxMessageBytes, bodyBytes);
    checkCidReferences(content.html, prepared);
    return prepared;
  }

  async sendBatch(ctx: AcceptContext, dto: SendBatchDto): Promise<Accepted<SendBatchResponseDto>> {
    return this.idempotent(ctx, '/api/v1/batch', dto, async (complete) => {
      // Every recipient's variables bound the render cost (README "Security": template limits).
      const content = await this.resolveContent(dto, [
        dto.variables,
        ...dto.recipients.map((r) => (r as { variables?: unknown }).variables),
      ]);
      const stream = resolveStream(dto.stream, content.templateStream, 'broadcast');
      const attachments = this.prepareAttachments(dto, content);
      const attachmentSet = attachments.length > 0 ? randomUUID() : null;
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
        const message = this.newMessage(
          ctx,
          dto,
          content,
          stream,
          c.email,
          c.name,
          batchId,
          c.variables,
        );
        message.attachmentSet = attachmentSet;
        accepted.push({ index: c.index, message });
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
        // One copy of the content for the whole batch (README "Sending": attachments).
        if (attachmentSet && accepted.length > 0) {
          await this.writes.insertAttachmentSet(em, attachmentSet, attachments);
        }
        await this.writes.insertMessages(
          em,
          accepted.map((a) => a.message),
        );
        // `email.suppressed` (README "Event webhooks"), committed with the batch.
        await this.writes.recordRejections(
          candidates
            .filter((c) => suppressed.has(normalizeEmail(c.email)))
            .map((c) => ({
              recipient: c.email,
              stream,
              campaignId: dto.campaign_id ?? null,
              tag: dto.tag ?? null,
              batchId,
              reason: suppressed.get(normalizeEmail(c.email))!.reason,
            })),
          em,
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

  /**
   * A suppressed recipient of a single send: recorded for `email.suppressed` (README "Event
   * webhooks") before the 422 goes out.
   */
  private async refuseSuppressed(
    dto: SendEmailDto,
    recipient: string,
    reason: string,
    stream: Stream,
  ): Promise<never> {
    await this.writes.recordRejections([
      {
        recipient,
        stream,
        campaignId: dto.campaign_id ?? null,
        tag: dto.tag ?? null,
        batchId: null,
        reason,
      },
    ]);
    throw new RecipientSuppressedError(reason);
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

  /**
   * A message's status and event timeline (README "Sending"); unknown or malformed id → 404.
   * The id of a message with several recipients answers for all of them; a recipient's own
   * id (`recipient_id`, its X-Email-Id) for that delivery record alone.
   */
  async getStatus(messageId: string): Promise<MessageStatusResponseDto> {
    if (!UUID.test(messageId)) throw new NotFoundError(`Message ${messageId} not found`);
    const id = messageId.toLowerCase();
    let logs = await this.logs.findByApiMessageId(id);
    if (logs.length === 0) {
      const log = await this.logs.findByMessageId(id);
      if (!log) throw new NotFoundError(`Message ${messageId} not found`);
      logs = [log];
    }
    const several = logs.length > 1;
    const primary = logs.find((l) => l.recipientRole === 'to') ?? logs[0];
    const events = several
      ? await this.logs.eventsOfAll(logs.map((l) => l.id))
      : await this.logs.eventsOf(primary.id);
    const recipientOf = new Map(logs.map((l) => [l.id, l.recipient]));
    return {
      ...toSummary(primary),
      message_id: several ? id : primary.externalMessageId,
      status: overallStatus(logs.map((l) => l.status)),
      recipients: logs.map((l) => ({
        email: l.recipient,
        role: l.recipientRole,
        recipient_id: l.externalMessageId,
        status: l.status,
        bounce_type: l.bounceType,
        error_message: l.errorMessage,
        sent_at: iso(l.sentAt),
        delivered_at: iso(l.deliveredAt),
      })),
      events: events.map((e) => ({
        type: e.eventType,
        occurred_at: e.occurredAt.toISOString(),
        details: e.details,
        ...(several ? { recipient: recipientOf.get(String(e.emailLogId)) } : {}),
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

  /**
   * Sending statistics per From domain over the last `days` days (the dashboard's bulk-sender
   * compliance, README "Sending domains"); a domain with no mail is all zeros.
   */
  async senderDomainStats(
    domains: string[],
    days: number,
    now = new Date(),
  ): Promise<
    Map<
      string,
      { sent: number; complained: number; broadcast: number; broadcastWithoutUnsubscribe: number }
    >
  > {
    const since = new Date(now.getTime() - days * 24 * 3600_000);
    const stats = await this.logs.senderDomainStats(domains, since);
    for (const d of domains)
      if (!stats.has(d))
        stats.set(d, { sent: 0, complained: 0, broadcast: 0, broadcastWithoutUnsubscribe: 0 });
    return stats;
  }

  /** `variableSets`: every set of variables the content will be rendered with. */
  private async resolveContent(
    dto: EmailContentDto,
    variableSets: ReadonlyArray<unknown>,
  ): Promise<ResolvedContent> {
    const from = await this.defaults.from(dto.from);
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
        from,
        html: template.html,
        text: template.text,
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
      from,
      html: dto.html ?? null,
      text: dto.text ?? null,
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
      options: this.defaults.options(dto, stream),
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

/**
 * The status of a message with several recipients (README "Sending"): theirs when they share
 * one, else the one furthest from done — in flight, then problems, delivered last.
 */
const OVERALL_ORDER: readonly string[] = [
  'processing',
  'queued',
  'retry_scheduled',
  'held',
  'sent',
  'bounced',
  'failed',
  'complained',
  'delivered',
];
function overallStatus(statuses: string[]): string {
  if (statuses.every((s) => s === statuses[0])) return statuses[0];
  const rank = (s: string) => {
    const i = OVERALL_ORDER.indexOf(s);
    return i === -1 ? OVERALL_ORDER.length : i;
  };
  return statuses.reduce((a, b) => (rank(b) < rank(a) ? b : a));
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
