import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import { suppressedByHashSql } from 'src/modules/blacklist/suppression';
import type { PreparedAttachment } from 'src/modules/emails/attachments/attachment-rules';
import type { Stream } from 'src/common/streams';
import {
  causeOfEvent,
  type StatuslessEventType,
} from 'src/modules/emails/lifecycle/message-events';
import type { NewMessage } from 'src/modules/emails/message-details';

/** Rows per INSERT … SELECT FROM unnest(…) statement. */
const INSERT_CHUNK = 2000;

/** The fifteen column arrays of an unnest insert of messages ($1 … $15). */
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
    rows.map((r) => r.messageId ?? null),
    rows.map((r) => r.recipientRole ?? 'to'),
    rows.map((r) => r.attachmentSet ?? null),
    rows.map((r) => r.stream),
  ];
}

/**
 * The `queued` event of a new message: the `accept` transition (lifecycle/transitions.ts),
 * published like every other (docs/ARCHITECTURE.md "Transition events").
 */
const QUEUED_EVENT = `INSERT INTO email_events (email_log_id, event_type, details, recipient_domain, stream, cause)
         SELECT id, 'queued', CASE WHEN send_at IS NULL THEN '{}'::jsonb
                                   ELSE jsonb_build_object('send_at', send_at) END, recipient_domain, stream, 'accept'
           FROM inserted`;

/** A recipient refused at accept because it is suppressed (`email.suppressed`). */
export interface AcceptRejectionRow {
  recipient: string;
  stream: Stream;
  campaignId: string | null;
  tag: string | null;
  batchId: string | null;
  reason: string;
}

/**
 * Hot-path writes that change no status: accepting messages (set-based, group-committed) and
 * events without a status change (opens, clicks, delays, unsubscribes). Status changes live in
 * lifecycle/transitions.repository.ts, reads in message-reads.repository.ts.
 */
@Injectable()
export class MessageWritesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(fn);
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
                                   recipient, sender, subject, send_at, status, status_details,
                                   message_id, recipient_role, attachment_set, stream)
           SELECT u.id, u.api_key_id, u.template_id, u.batch_id, u.campaign_id, u.tag,
                  u.recipient, u.sender, u.subject, u.send_at, 'queued', u.details,
                  u.message_id, u.recipient_role, u.attachment_set, u.stream
             FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::varchar[], $6::varchar[],
                         $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[], $11::jsonb[],
                         $12::uuid[], $13::varchar[], $14::uuid[], $15::varchar[])
               AS u(id, api_key_id, template_id, batch_id, campaign_id, tag, recipient, sender, subject, send_at,
                    details, message_id, recipient_role, attachment_set, stream)
           RETURNING id, send_at, recipient_domain, stream)
         ${QUEUED_EVENT}`,
        messageColumns(chunk),
      );
    }
  }

  /**
   * Stores an attachment set inside the caller's accept transaction (content-addressed,
   * docs/ARCHITECTURE.md "Recipients and attachments"): each distinct blob once (an existing
   * one is only touched, which also locks it against a concurrent prune), then the set's rows.
   */
  async insertAttachmentSet(
    em: EntityManager,
    setId: string,
    items: PreparedAttachment[],
  ): Promise<void> {
    const blobs = new Map(items.map((a) => [a.sha256, a]));
    const unique = [...blobs.values()].sort((a, b) => a.sha256.localeCompare(b.sha256));
    await em.query(
      `INSERT INTO attachment_blobs (sha256, content, size)
       SELECT * FROM unnest($1::char(64)[], $2::bytea[], $3::int[])
       ON CONFLICT (sha256) DO UPDATE SET last_used_at = now()`,
      [unique.map((a) => a.sha256), unique.map((a) => a.content), unique.map((a) => a.size)],
    );
    await em.query(
      `INSERT INTO message_attachments (set_id, position, sha256, filename, content_type, content_id, size)
       SELECT $1::uuid, u.position, u.sha256, u.filename, u.content_type, u.content_id, u.size
         FROM unnest($2::smallint[], $3::char(64)[], $4::varchar[], $5::varchar[], $6::varchar[], $7::int[])
           AS u(position, sha256, filename, content_type, content_id, size)`,
      [
        setId,
        items.map((_, i) => i),
        items.map((a) => a.sha256),
        items.map((a) => a.filename),
        items.map((a) => a.contentType),
        items.map((a) => a.contentId),
        items.map((a) => a.size),
      ],
    );
  }

  /**
   * One message and its `queued` event, committed on its own (no caller transaction), unless
   * the recipient is suppressed for the message's stream right now (the blacklist module's
   * fragment, by `emailHash`:
   * the suppression check rides along with the insert, one round trip). Inserts of concurrent
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
                                $12::uuid[], $13::varchar[], $14::uuid[], $15::varchar[], $16::char(64)[])
             AS u(id, api_key_id, template_id, batch_id, campaign_id, tag, recipient, sender, subject,
                  send_at, details, message_id, recipient_role, attachment_set, stream, email_hash)),
         inserted AS (
           INSERT INTO email_logs (external_message_id, api_key_id, template_id, batch_id, campaign_id, tag,
                                   recipient, sender, subject, send_at, status, status_details,
                                   message_id, recipient_role, attachment_set, stream)
           SELECT u.id, u.api_key_id, u.template_id, u.batch_id, u.campaign_id, u.tag,
                  u.recipient, u.sender, u.subject, u.send_at, 'queued', u.details,
                  u.message_id, u.recipient_role, u.attachment_set, u.stream
             FROM input u
            WHERE NOT ${suppressedByHashSql('u.email_hash', 'u.stream')}
           RETURNING id, external_message_id, send_at, recipient_domain, stream),
         events AS (${QUEUED_EVENT})
         SELECT external_message_id FROM inserted`,
        [...messageColumns(rows), items.map((i) => i.emailHash)],
      );
      const done = new Set(inserted.map((r) => r.external_message_id));
      return rows.map((r) => done.has(r.externalMessageId));
    },
    { maxBatchSize: 500, maxInFlight: 4 },
  );

  /**
   * Records an event without a status change (delays, unsubscribes), published like a
   * transition (lifecycle/message-events.ts): its cause, and the status the message is in.
   */
  async addEvent(
    id: string,
    type: StatuslessEventType,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.ds.query(
      `INSERT INTO email_events (email_log_id, event_type, details, from_status, cause)
       SELECT id, $2, $3::jsonb, status, $4 FROM email_logs WHERE id = $1`,
      [id, type, JSON.stringify(details), causeOfEvent(type)],
    );
  }

  /** Adds the event unless the message already has one of this type. */
  async addEventOnce(
    id: string,
    type: StatuslessEventType,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.ds.query(
      `INSERT INTO email_events (email_log_id, event_type, details, from_status, cause)
       SELECT l.id, $2::text, $3::jsonb, l.status, $4 FROM email_logs l
        WHERE l.id = $1::bigint
          AND NOT EXISTS (SELECT 1 FROM email_events
                           WHERE email_log_id = $1::bigint AND event_type = $2::text)`,
      [id, type, JSON.stringify(details), causeOfEvent(type)],
    );
  }

  /**
   * Suppressed recipients refused at accept: the outbox of `email.suppressed` (README "Event
   * webhooks"), in the caller's transaction when it has one.
   */
  async recordRejections(rows: AcceptRejectionRow[], em?: EntityManager): Promise<void> {
    if (rows.length === 0) return;
    await (em ?? this.ds).query(
      `INSERT INTO accept_rejections (recipient, stream, campaign_id, tag, batch_id, reason)
       SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::uuid[],
                            $6::varchar[])`,
      [
        rows.map((r) => r.recipient),
        rows.map((r) => r.stream),
        rows.map((r) => r.campaignId),
        rows.map((r) => r.tag),
        rows.map((r) => r.batchId),
        rows.map((r) => r.reason.slice(0, 32)),
      ],
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
          RETURNING id, status)
       INSERT INTO email_events (email_log_id, event_type, details, from_status, cause)
       SELECT id, $2, $3::jsonb, status, $4 FROM updated
       RETURNING email_log_id`,
      [messageId, type, JSON.stringify(details), causeOfEvent(type)],
    );
    return rows.length > 0;
  }
}
