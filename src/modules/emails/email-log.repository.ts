import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { EmailEvent, EmailEventType } from 'src/modules/emails/email-event.entity';
import { EmailLog, EmailStatus } from 'src/modules/emails/email-log.entity';
import { MessageDetails, NewMessage } from 'src/modules/emails/message-details';
import { MicroBatcher } from 'src/common/batching/micro-batcher';

/** A message as delivery events (webhooks, sandbox, complaints) need it. */
export interface EventTarget {
  id: string;
  messageId: string;
  status: EmailStatus;
  recipient: string;
  recipientDomain: string;
  campaignId: string | null;
  retryCount: number;
}

/** How a Postal event names a message; tried in this order (SPEC §7). */
export interface MessageMatch {
  postalId?: string | number | null;
  token?: string | null;
  postalMessageId?: string | null;
  messageId?: string | null;
}

/** What the delivery worker needs of a claimed message. */
export interface ClaimedMessage {
  id: string;
  messageId: string;
  recipient: string;
  recipientDomain: string;
  sender: string;
  subject: string | null;
  templateId: number | null;
  campaignId: string | null;
  tag: string | null;
  details: MessageDetails;
  sendAt: Date | null;
  /** The recipient is on the suppression list right now. */
  suppressed: boolean;
}

interface SentUpdate {
  id: string;
  providerMessageId: string;
  providerToken: string | null;
  postalMessageId: string | null;
  detailsPatch: Record<string, unknown> | null;
}

/** Group commit for the delivery hot path: a worker's concurrent jobs share statements. */
const DELIVERY_BATCHING = { maxBatchSize: 200, maxInFlight: 4 };

/** The eleven column arrays of an unnest insert of messages ($1 … $11). */
function messageColumns(rows: NewMessage[]): unknown[] {
  return [
    rows.map((r) => r.externalMessageId),
    rows.map((r) => r.apiKeyId),
    rows.map((r) => r.templateId),
    rows.map((r) => r.batchId),
    rows.map((r) => r.campaignId),
    rows.map((r) => r.tag),
    rows.map((r) => r.recipient),
    rows.map((r) => r.sender),
    rows.map((r) => r.subject),
    rows.map((r) => r.sendAt),
    rows.map((r) => JSON.stringify(r.details)),
  ];
}

function toEventTarget(r: Record<string, unknown>): EventTarget {
  return {
    id: String(r.id),
    messageId: String(r.external_message_id),
    status: r.status as EmailStatus,
    recipient: String(r.recipient),
    recipientDomain: String(r.recipient_domain),
    campaignId: (r.campaign_id as string | null) ?? null,
    retryCount: Number(r.retry_count),
  };
}

/** Rows per INSERT … SELECT FROM unnest(…) statement. */
const INSERT_CHUNK = 2000;

export interface MessageListFilter {
  status?: EmailStatus;
  recipient?: string;
  campaignId?: string;
  domain?: string;
  from?: Date;
  to?: Date;
  batchId?: string;
  limit: number;
  /** Keyset: rows with a smaller id (ids grow with insertion, so this is newest first). */
  beforeId?: string;
}

/** Queries over email_logs and email_events; SQL stays in here. Hot paths are set-based. */
@Injectable()
export class EmailLogRepository {
  constructor(
    @InjectRepository(EmailLog) private readonly logs: Repository<EmailLog>,
    @InjectRepository(EmailEvent) private readonly events: Repository<EmailEvent>,
    @InjectDataSource() private readonly ds: DataSource,
  ) {}

  private readonly claims = new MicroBatcher(
    (items: Array<{ messageId: string; staleAfterS: number }>) => this.claimMany(items),
    DELIVERY_BATCHING,
  );
  private readonly sentUpdates = new MicroBatcher(
    (items: SentUpdate[]) => this.markSentMany(items),
    DELIVERY_BATCHING,
  );

  transaction<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(fn);
  }

  /** For single statements that need no explicit transaction. */
  get manager(): EntityManager {
    return this.ds.manager;
  }

  findByMessageId(messageId: string): Promise<EmailLog | null> {
    return this.logs.findOne({ where: { externalMessageId: messageId } });
  }

  eventsOf(emailLogId: string): Promise<EmailEvent[]> {
    return this.events.find({ where: { emailLogId }, order: { occurredAt: 'ASC', id: 'ASC' } });
  }

  /**
   * Inserts messages and their `queued` events with one statement per chunk (unnest), inside
   * the caller's transaction. No per-row round trips.
   */
  async insertMessages(em: EntityManager, rows: NewMessage[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      await em.query(
        `WITH inserted AS (
           INSERT INTO email_logs (external_message_id, api_key_id, template_id, batch_id, campaign_id, tag,
                                   recipient, sender, subject, send_at, status, status_details)
           SELECT u.id, u.api_key_id, u.template_id, u.batch_id, u.campaign_id, u.tag,
                  u.recipient, u.sender, u.subject, u.send_at, 'queued', u.details
             FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::varchar[], $6::varchar[],
                         $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[], $11::jsonb[])
               AS u(id, api_key_id, template_id, batch_id, campaign_id, tag, recipient, sender, subject, send_at, details)
           RETURNING id, send_at, recipient_domain)
         INSERT INTO email_events (email_log_id, event_type, details, recipient_domain)
         SELECT id, 'queued', CASE WHEN send_at IS NULL THEN '{}'::jsonb
                                   ELSE jsonb_build_object('send_at', send_at) END, recipient_domain
           FROM inserted`,
        messageColumns(chunk),
      );
    }
  }

  /**
   * One message and its `queued` event, committed on its own (no caller transaction), unless
   * the recipient is suppressed right now (its `blacklists` row, by `emailHash`: the
   * suppression check rides along with the insert, one round trip). Inserts of concurrent
   * requests share one statement and one commit (group commit). False when suppressed.
   */
  insertMessageUnlessSuppressed(row: NewMessage, emailHash: string): Promise<boolean> {
    return this.guardedInserts.submit({ row, emailHash });
  }

  private readonly guardedInserts = new MicroBatcher(
    async (items: Array<{ row: NewMessage; emailHash: string }>): Promise<boolean[]> => {
      const rows = items.map((i) => i.row);
      const inserted: Array<{ external_message_id: string }> = await this.ds.query(
        `WITH input AS (
           SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::varchar[], $6::varchar[],
                                $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[], $11::jsonb[],
                                $12::char(64)[])
             AS u(id, api_key_id, template_id, batch_id, campaign_id, tag, recipient, sender, subject,
                  send_at, details, email_hash)),
         inserted AS (
           INSERT INTO email_logs (external_message_id, api_key_id, template_id, batch_id, campaign_id, tag,
                                   recipient, sender, subject, send_at, status, status_details)
           SELECT u.id, u.api_key_id, u.template_id, u.batch_id, u.campaign_id, u.tag,
                  u.recipient, u.sender, u.subject, u.send_at, 'queued', u.details
             FROM input u
            WHERE NOT EXISTS (
                    SELECT 1 FROM blacklists b
                     WHERE b.email_hash = u.email_hash
                       AND (b.expires_at IS NULL OR b.expires_at > now()))
           RETURNING id, external_message_id, send_at, recipient_domain),
         events AS (
           INSERT INTO email_events (email_log_id, event_type, details, recipient_domain)
           SELECT id, 'queued', CASE WHEN send_at IS NULL THEN '{}'::jsonb
                                     ELSE jsonb_build_object('send_at', send_at) END, recipient_domain
             FROM inserted)
         SELECT external_message_id FROM inserted`,
        [...messageColumns(rows), items.map((i) => i.emailHash)],
      );
      const done = new Set(inserted.map((r) => r.external_message_id));
      return rows.map((r) => done.has(r.externalMessageId));
    },
    { maxBatchSize: 500, maxInFlight: 4 },
  );

  /**
   * Finds the message an event is about: Postal id, then token, then Postal Message-ID. The
   * common case — a Postal event naming its message by id — is looked up for concurrent jobs
   * in one query.
   */
  async findForEvent(match: MessageMatch): Promise<EventTarget | null> {
    const postalId =
      match.postalId !== undefined && match.postalId !== null && String(match.postalId) !== ''
        ? String(match.postalId)
        : null;
    if (!match.messageId && postalId !== null) {
      const found = await this.byPostalId.submit(postalId);
      // Postal's webhook names its message by id and token (README "How mail flows"): with
      // both, both must match the same row; a mismatch matches nothing (no fallback).
      if (match.token) return found && found.token === match.token ? found.target : null;
      if (found) return found.target;
    }
    const tries: Array<[string, unknown]> = [];
    if (match.messageId) tries.push(['external_message_id', match.messageId]);
    if (postalId !== null && match.messageId) tries.push(['provider_message_id', postalId]);
    if (match.token) tries.push(['provider_token', match.token]);
    if (match.postalMessageId) {
      const bare = match.postalMessageId.replace(/^<|>$/g, '');
      tries.push(['postal_message_id', bare], ['postal_message_id', `<${bare}>`]);
    }
    for (const [column, value] of tries) {
      if (column === 'external_message_id' && !/^[0-9a-f-]{36}$/i.test(String(value))) continue;
      const rows: Array<Record<string, unknown>> = await this.ds.query(
        `SELECT id, external_message_id, status, recipient, recipient_domain, campaign_id, retry_count
           FROM email_logs WHERE ${column} = $1 ORDER BY id DESC LIMIT 1`,
        [value],
      );
      if (rows[0]) return toEventTarget(rows[0]);
    }
    return null;
  }

  private readonly byPostalId = new MicroBatcher(
    async (ids: string[]): Promise<Array<{ target: EventTarget; token: unknown } | null>> => {
      const rows: Array<Record<string, unknown>> = await this.ds.query(
        `SELECT DISTINCT ON (provider_message_id)
                provider_message_id, id, external_message_id, status, recipient, recipient_domain,
                campaign_id, retry_count, provider_token
           FROM email_logs WHERE provider_message_id = ANY($1::varchar[])
          ORDER BY provider_message_id, id DESC`,
        [[...new Set(ids)]],
      );
      const byId = new Map(
        rows.map((r) => [
          String(r.provider_message_id),
          { target: toEventTarget(r), token: r.provider_token },
        ]),
      );
      return ids.map((id) => byId.get(id) ?? null);
    },
    DELIVERY_BATCHING,
  );

  /**
   * → `delivered` with a `delivered` event, from the in-flight statuses (`from`). The most
   * frequent transition (one per Postal MessageSent): concurrent ones share one statement.
   */
  markDelivered(
    id: string,
    from: EmailStatus[],
    deliveredAt: Date,
    details: Record<string, unknown>,
  ): Promise<boolean> {
    return this.deliveredUpdates.submit({ id, from, deliveredAt, details });
  }

  private readonly deliveredUpdates = new MicroBatcher(
    async (
      items: Array<{
        id: string;
        from: EmailStatus[];
        deliveredAt: Date;
        details: Record<string, unknown>;
      }>,
    ): Promise<boolean[]> => {
      const firstIndex = new Map<string, number>();
      items.forEach((it, i) => {
        if (!firstIndex.has(it.id)) firstIndex.set(it.id, i);
      });
      const unique = [...firstIndex.values()].map((i) => items[i]);
      const rows: Array<{ email_log_id: string }> = await this.ds.query(
        `WITH input AS (
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::jsonb[])
             AS u(id, from_statuses, delivered_at, details)),
         updated AS (
           UPDATE email_logs e
              SET status = 'delivered', updated_at = now(), delivered_at = u.delivered_at
             FROM input u
            WHERE e.id = u.id AND e.status = ANY(u.from_statuses::varchar[])
            RETURNING e.id, u.details)
         INSERT INTO email_events (email_log_id, event_type, details)
         SELECT id, 'delivered', details FROM updated
         RETURNING email_log_id`,
        [
          unique.map((u) => u.id),
          // One array literal per row: unnest cannot take an array of arrays of varying length.
          unique.map((u) => `{${u.from.join(',')}}`),
          unique.map((u) => u.deliveredAt),
          unique.map((u) => JSON.stringify(u.details)),
        ],
      );
      const done = new Set(rows.map((r) => String(r.email_log_id)));
      return items.map((it, i) => firstIndex.get(it.id) === i && done.has(it.id));
    },
    DELIVERY_BATCHING,
  );

  /** The newest message that left for an address (case-insensitive). */
  async latestSentTo(email: string): Promise<string | null> {
    const rows: Array<{ external_message_id: string }> = await this.ds.query(
      `SELECT external_message_id FROM email_logs
        WHERE lower(recipient) = lower($1) AND sent_at IS NOT NULL
        ORDER BY id DESC LIMIT 1`,
      [email.trim()],
    );
    return rows[0]?.external_message_id ?? null;
  }

  /** Campaign totals for the complaint-rate check: messages that left, and complaints. */
  async campaignComplaintCounts(campaignId: string): Promise<{ sent: number; complained: number }> {
    const rows: Array<{ sent: number; complained: number }> = await this.ds.query(
      `SELECT count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent,
              count(*) FILTER (WHERE status = 'complained')::int AS complained
         FROM email_logs WHERE campaign_id = $1`,
      [campaignId],
    );
    return rows[0] ?? { sent: 0, complained: 0 };
  }

  /**
   * Due soft-bounce retries back to `queued` (retry_count + 1), at most `limit` per call.
   * Returns them for enqueueing. One statement; SKIP LOCKED lets several workers share it.
   */
  async requeueDueRetries(
    limit: number,
  ): Promise<Array<{ messageId: string; recipient: string; retryCount: number }>> {
    const rows: Array<{ external_message_id: string; recipient: string; retry_count: number }> =
      await this.ds.query(
        `WITH due AS (
         SELECT id FROM email_logs
          WHERE status = 'retry_scheduled' AND next_retry_at <= now()
          ORDER BY next_retry_at LIMIT $1 FOR UPDATE SKIP LOCKED),
       updated AS (
         UPDATE email_logs l SET status = 'queued', retry_count = l.retry_count + 1,
                next_retry_at = NULL, updated_at = now()
           FROM due WHERE l.id = due.id
         RETURNING l.id, l.external_message_id, l.recipient, l.retry_count)
       SELECT * FROM updated`,
        [limit],
      );
    return rows.map((r) => ({
      messageId: r.external_message_id,
      recipient: r.recipient,
      retryCount: r.retry_count,
    }));
  }

  /** Due retries whose recipient is now suppressed → failed "Recipient blacklisted". */
  async dueRetryRecipients(limit: number): Promise<Array<{ id: string; recipient: string }>> {
    const rows: Array<{ id: string; recipient: string }> = await this.ds.query(
      `SELECT id, recipient FROM email_logs
        WHERE status = 'retry_scheduled' AND next_retry_at <= now()
        ORDER BY next_retry_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ id: String(r.id), recipient: r.recipient }));
  }

  /** `processing` rows untouched for `olderThanS` back to `queued`; returns how many. */
  async requeueAbandonedClaims(olderThanS: number): Promise<number> {
    const rows: unknown[] = await this.ds.query(
      `WITH reset AS (
         UPDATE email_logs SET status = 'queued', updated_at = now() - make_interval(secs => 120)
          WHERE status = 'processing' AND updated_at < now() - make_interval(secs => $1)
          RETURNING id)
       SELECT id FROM reset`,
      [olderThanS],
    );
    return rows.length;
  }

  /** Seconds since the message was claimed, when it is `processing`; null otherwise. */
  async processingForS(messageId: string): Promise<number | null> {
    const rows: Array<{ age: number }> = await this.ds.query(
      `SELECT extract(epoch FROM now() - updated_at)::float AS age FROM email_logs
        WHERE external_message_id = $1 AND status = 'processing'`,
      [messageId],
    );
    return rows[0] ? Number(rows[0].age) : null;
  }

  async recipientDomainOf(messageId: string): Promise<string | null> {
    const rows: Array<{ recipient_domain: string }> = await this.ds.query(
      `SELECT recipient_domain FROM email_logs WHERE external_message_id = $1`,
      [messageId],
    );
    return rows[0]?.recipient_domain ?? null;
  }

  /**
   * Claims a message for delivery with one conditional update (SPEC §6.2): only from `queued`
   * or `retry_scheduled`, or from `processing` left behind by a worker that died mid-send.
   * Null when someone else owns it or it is already sent (a duplicate job never sends twice).
   * Claims of concurrent jobs are grouped into one statement (see MicroBatcher).
   */
  claimForDelivery(messageId: string, staleAfterS = 300): Promise<ClaimedMessage | null> {
    return this.claims.submit({ messageId: messageId.toLowerCase(), staleAfterS });
  }

  private async claimMany(
    items: Array<{ messageId: string; staleAfterS: number }>,
  ): Promise<Array<ClaimedMessage | null>> {
    // The same message twice in one batch: only its first job may get it.
    const firstIndex = new Map<string, number>();
    items.forEach((it, i) => {
      if (!firstIndex.has(it.messageId)) firstIndex.set(it.messageId, i);
    });
    const unique = [...firstIndex.keys()].sort();
    const rows: Array<{
      external_message_id: string;
      id: string;
      recipient: string;
      recipient_domain: string;
      sender: string;
      subject: string | null;
      template_id: number | null;
      campaign_id: string | null;
      tag: string | null;
      status_details: MessageDetails;
      send_at: Date | null;
      suppressed: boolean;
    }> = await this.ds.query(
      // Wrapped in a CTE: TypeORM answers a bare UPDATE with [rows, count] instead of rows.
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::float8[]) AS u(message_id, stale_s)),
       claimed AS (
         UPDATE email_logs e SET status = 'processing', updated_at = now()
           FROM input u
          WHERE e.external_message_id = u.message_id
            AND (e.status IN ('queued', 'retry_scheduled')
                 OR (e.status = 'processing' AND e.updated_at < now() - make_interval(secs => u.stale_s)))
          RETURNING e.external_message_id, e.id, e.recipient, e.recipient_domain, e.sender, e.subject,
                    e.template_id, e.campaign_id, e.tag, e.status_details, e.send_at)
       -- The suppression re-check rides along (one round trip less per message on the hot
       -- path). It mirrors BlacklistService: sha256 of the trimmed, lower-cased address.
       SELECT c.*, EXISTS (
                SELECT 1 FROM blacklists b
                 WHERE b.email_hash = encode(sha256(convert_to(lower(btrim(c.recipient)), 'UTF8')), 'hex')
                   AND (b.expires_at IS NULL OR b.expires_at > now())) AS suppressed
         FROM claimed c`,
      [unique, unique.map((id) => items[firstIndex.get(id)!].staleAfterS)],
    );
    const byId = new Map(rows.map((r) => [r.external_message_id, r]));
    return items.map((it, i) => {
      const r = firstIndex.get(it.messageId) === i ? byId.get(it.messageId) : undefined;
      if (!r) return null;
      return {
        id: r.id,
        messageId: it.messageId,
        recipient: r.recipient,
        recipientDomain: r.recipient_domain,
        sender: r.sender,
        subject: r.subject,
        templateId: r.template_id,
        campaignId: r.campaign_id,
        tag: r.tag,
        details: r.status_details,
        sendAt: r.send_at,
        suppressed: r.suppressed,
      };
    });
  }

  /** Gives a claimed message back (e.g. no rate-control token) without using an attempt. */
  async release(id: string, errorMessage?: string): Promise<void> {
    await this.ds.query(
      `UPDATE email_logs SET status = 'queued', updated_at = now(),
              error_message = COALESCE($2, error_message)
        WHERE id = $1 AND status = 'processing'`,
      [id, errorMessage ?? null],
    );
  }

  /**
   * `processing` → `sent` with the provider's ids and a `sent` event; false when the claim was
   * lost meanwhile. Concurrent jobs' updates are grouped into one statement and one commit.
   */
  markSent(
    id: string,
    sent: {
      providerMessageId: string;
      providerToken: string | null;
      postalMessageId: string | null;
    },
    detailsPatch: Record<string, unknown> | null,
  ): Promise<boolean> {
    return this.sentUpdates.submit({ id, ...sent, detailsPatch });
  }

  private async markSentMany(items: SentUpdate[]): Promise<boolean[]> {
    const firstIndex = new Map<string, number>();
    items.forEach((it, i) => {
      if (!firstIndex.has(it.id)) firstIndex.set(it.id, i);
    });
    const unique = [...firstIndex.values()].map((i) => items[i]);
    const rows: Array<{ email_log_id: string }> = await this.ds.query(
      `WITH input AS (
         SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[])
           AS u(id, provider_message_id, provider_token, postal_message_id, patch)),
       updated AS (
         UPDATE email_logs e
            SET status = 'sent', sent_at = now(), updated_at = now(), error_message = NULL,
                provider_message_id = u.provider_message_id, provider_token = u.provider_token,
                postal_message_id = u.postal_message_id,
                status_details = CASE WHEN u.patch IS NULL THEN e.status_details ELSE e.status_details || u.patch END
           FROM input u
          WHERE e.id = u.id AND e.status = 'processing'
          RETURNING e.id, e.recipient_domain, u.provider_message_id)
       INSERT INTO email_events (email_log_id, event_type, details, recipient_domain)
       SELECT id, 'sent', jsonb_build_object('provider_message_id', provider_message_id::text), recipient_domain
         FROM updated
       RETURNING email_log_id`,
      [
        unique.map((u) => u.id),
        unique.map((u) => u.providerMessageId),
        unique.map((u) => u.providerToken),
        unique.map((u) => u.postalMessageId),
        unique.map((u) => (u.detailsPatch ? JSON.stringify(u.detailsPatch) : null)),
      ],
    );
    const done = new Set(rows.map((r) => String(r.email_log_id)));
    return items.map((it, i) => firstIndex.get(it.id) === i && done.has(it.id));
  }

  /** `failed` with the reason, from any not-yet-final state; records a `failed` event. */
  async markFailed(
    id: string,
    errorMessage: string,
    details: Record<string, unknown> = {},
  ): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `WITH updated AS (
         UPDATE email_logs SET status = 'failed', error_message = left($2, 1000), updated_at = now()
          WHERE id = $1 AND status IN ('queued', 'processing', 'retry_scheduled')
          RETURNING id)
       INSERT INTO email_events (email_log_id, event_type, details)
       SELECT id, 'failed', $3::jsonb || jsonb_build_object('error', left($2, 1000)) FROM updated
       RETURNING email_log_id`,
      [id, errorMessage, JSON.stringify(details)],
    );
    return rows.length > 0;
  }

  /** After a retryable transport error: back to `queued` with the error and one more try counted. */
  async recordTransientError(id: string, errorMessage: string): Promise<void> {
    await this.ds.query(
      `UPDATE email_logs SET status = 'queued', error_message = left($2, 1000), updated_at = now()
        WHERE id = $1 AND status = 'processing'`,
      [id, errorMessage],
    );
  }

  /**
   * A state transition driven by a delivery outcome. `from` lists the statuses it may leave, so
   * late or duplicate events never move a message backwards.
   */
  async transition(
    id: string,
    to: EmailStatus,
    from: EmailStatus[],
    event: EmailEventType,
    set: Record<string, unknown>,
    eventDetails: Record<string, unknown>,
  ): Promise<boolean> {
    const assignments = Object.keys(set).map((col, i) => `${col} = $${i + 4}`);
    const rows: unknown[] = await this.ds.query(
      `WITH updated AS (
         UPDATE email_logs SET status = $2, updated_at = now()${assignments.length ? ', ' + assignments.join(', ') : ''}
          WHERE id = $1 AND status = ANY($3::varchar[])
          RETURNING id)
       INSERT INTO email_events (email_log_id, event_type, details)
       SELECT id, '${event}', $${assignments.length + 4}::jsonb FROM updated
       RETURNING email_log_id`,
      [id, to, from, ...Object.values(set), JSON.stringify(eventDetails)],
    );
    return rows.length > 0;
  }

  /** Records an event without a status change (opens, clicks, delays, unsubscribes). */
  async addEvent(
    id: string,
    type: EmailEventType,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.ds.query(
      `INSERT INTO email_events (email_log_id, event_type, details) VALUES ($1, $2, $3)`,
      [id, type, JSON.stringify(details)],
    );
  }

  /** Adds the event unless the message already has one of this type. */
  async addEventOnce(
    id: string,
    type: EmailEventType,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.ds.query(
      `INSERT INTO email_events (email_log_id, event_type, details)
       SELECT $1::bigint, $2::text, $3::jsonb
        WHERE NOT EXISTS (SELECT 1 FROM email_events
                           WHERE email_log_id = $1::bigint AND event_type = $2::text)`,
      [id, type, JSON.stringify(details)],
    );
  }

  /** Records an open or click and sets opened_at/clicked_at the first time. One statement. */
  async recordEngagement(
    messageId: string,
    type: 'opened' | 'clicked',
    details: Record<string, unknown>,
  ): Promise<boolean> {
    // A click implies the message was opened (images may be blocked).
    const set =
      type === 'opened'
        ? 'opened_at = COALESCE(opened_at, now())'
        : 'clicked_at = COALESCE(clicked_at, now()), opened_at = COALESCE(opened_at, now())';
    const rows: unknown[] = await this.ds.query(
      `WITH updated AS (
         UPDATE email_logs SET ${set}, updated_at = now()
          WHERE external_message_id = $1
          RETURNING id)
       INSERT INTO email_events (email_log_id, event_type, details)
       SELECT id, $2, $3::jsonb FROM updated
       RETURNING email_log_id`,
      [messageId, type, JSON.stringify(details)],
    );
    return rows.length > 0;
  }

  /** Keyset page, newest first. */
  list(f: MessageListFilter): Promise<EmailLog[]> {
    const qb = this.logs.createQueryBuilder('l');
    if (f.status) qb.andWhere('l.status = :status', { status: f.status });
    if (f.recipient)
      qb.andWhere('lower(l.recipient) = lower(:recipient)', { recipient: f.recipient.trim() });
    if (f.campaignId) qb.andWhere('l.campaign_id = :campaignId', { campaignId: f.campaignId });
    if (f.domain) qb.andWhere('l.recipient_domain = lower(:domain)', { domain: f.domain.trim() });
    if (f.batchId) qb.andWhere('l.batch_id = :batchId', { batchId: f.batchId });
    if (f.from) qb.andWhere('l.created_at >= :from', { from: f.from });
    if (f.to) qb.andWhere('l.created_at < :to', { to: f.to });
    if (f.beforeId) qb.andWhere('l.id < :beforeId', { beforeId: f.beforeId });
    return qb.orderBy('l.id', 'DESC').limit(f.limit).getMany();
  }

  async countByStatusForBatch(batchId: string): Promise<Record<string, number>> {
    const rows: Array<{ status: string; n: string }> = await this.ds.query(
      `SELECT status, count(*) AS n FROM email_logs WHERE batch_id = $1 GROUP BY status`,
      [batchId],
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Outbox: queued messages older than `minAgeS` (their job may never have been enqueued). */
  async findStaleQueued(
    minAgeS: number,
    limit: number,
    offset: number,
  ): Promise<
    Array<{ messageId: string; sendAt: Date | null; recipient: string; retryCount: number }>
  > {
    // Not touched for a minute either: a retry re-queued just now is not stale.
    const rows: Array<{
      external_message_id: string;
      send_at: Date | null;
      recipient: string;
      retry_count: number;
    }> = await this.ds.query(
      `SELECT external_message_id, send_at, recipient, retry_count FROM email_logs
        WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)
          AND updated_at < now() - make_interval(secs => $1)
        ORDER BY created_at LIMIT $2 OFFSET $3`,
      [minAgeS, limit, offset],
    );
    return rows.map((r) => ({
      messageId: r.external_message_id,
      sendAt: r.send_at,
      recipient: r.recipient,
      retryCount: r.retry_count,
    }));
  }
}
