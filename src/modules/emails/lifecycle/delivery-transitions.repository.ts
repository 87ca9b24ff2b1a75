import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Stream } from 'src/common/streams';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { suppressedAddressSql } from 'src/modules/blacklist/suppression';
import type { MessageDetails } from 'src/modules/emails/message-details';
import {
  DELIVERY_BATCHING,
  firstIndexes,
  leaveStatusSql,
  outboxInsertSql,
  TransitionsRepository,
} from 'src/modules/emails/lifecycle/transitions.repository';
import { sourcesFor, statusGuardSql, targetOf } from 'src/modules/emails/lifecycle/transitions';
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
  stream: Stream;
  details: MessageDetails;
  sendAt: Date | null;
  /** The attachment list it carries (README "Sending"); null: none. */
  attachmentSet: string | null;
  /** The recipient is on the suppression list for the message's stream right now. */
  suppressed: boolean;
}

interface SentUpdate {
  id: string;
  providerMessageId: string;
  providerToken: string | null;
  postalMessageId: string | null;
  /** The subject as rendered for this message (GET /api/v1/status shows it). */
  subject?: string | null;
  detailsPatch: Record<string, unknown> | null;
}

/**
 * The delivery worker's statements (README "How mail flows", 2–3): its two lookups, and its
 * status changes — claim, hand back, `sent`, its own permanent failure. Guards come from the
 * transition table; claims and `sent` updates of concurrent jobs are group-committed
 * (MicroBatcher).
 */
@Injectable()
export class DeliveryTransitionsRepository {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly blacklist: BlacklistService,
    private readonly transitions: TransitionsRepository,
  ) {}

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
   * Claims a message for delivery with one conditional update: `claim` (from `queued` or
   * `retry_scheduled`) or `reclaim_stale` (a `processing` claim older than `staleAfterS`, left
   * by a worker that died mid-send). Null when someone else owns it or it is already sent (a
   * duplicate job never sends twice). Concurrent claims share one statement.
   */
  claimForDelivery(messageId: string, staleAfterS = 300): Promise<ClaimedMessage | null> {
    return this.claims.submit({ messageId: messageId.toLowerCase(), staleAfterS });
  }

  private readonly claims = new MicroBatcher(
    (items: Array<{ messageId: string; staleAfterS: number }>) => this.claimMany(items),
    DELIVERY_BATCHING,
  );

  private async claimMany(
    items: Array<{ messageId: string; staleAfterS: number }>,
  ): Promise<Array<ClaimedMessage | null>> {
    const firstIndex = firstIndexes(items.map((i) => i.messageId));
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
      stream: Stream;
      status_details: MessageDetails;
      send_at: Date | null;
      attachment_set: string | null;
      suppressed: boolean | null;
    }> = await this.ds.query(
      // Wrapped in a CTE: TypeORM answers a bare UPDATE with [rows, count] instead of rows.
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::float8[]) AS u(message_id, stale_s)),
       claimed AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('claim')}', updated_at = now()
           FROM input u
          WHERE e.external_message_id = u.message_id
            AND (${statusGuardSql('e.status', 'claim')}
                 OR (${statusGuardSql('e.status', 'reclaim_stale')}
                     AND e.updated_at < now() - make_interval(secs => u.stale_s)))
          RETURNING e.external_message_id, e.id, e.recipient, e.recipient_domain, e.sender, e.subject,
                    e.template_id, e.campaign_id, e.tag, e.stream, e.status_details, e.send_at,
                    e.attachment_set, e.previous_status, u.stale_s),
       published AS (
         ${outboxInsertSql({
           source: 'claimed',
           cause: 'claim',
           details: `CASE WHEN previous_status = '${sourcesFor('reclaim_stale')[0]}'
                          THEN jsonb_build_object('stale_after_s', stale_s) ELSE '{}'::jsonb END`,
           causeSql: `CASE WHEN previous_status = '${sourcesFor('reclaim_stale')[0]}'
                           THEN 'reclaim_stale' ELSE 'claim' END`,
         })})
       -- The suppression re-check rides along (one round trip less per message on the hot path).
       SELECT c.*, ${suppressedAddressSql('c.recipient', 'c.stream')} AS suppressed FROM claimed c`,
      [unique, unique.map((id) => items[firstIndex.get(id)!].staleAfterS)],
    );
    // What SQL cannot decide exactly (a non-ASCII address) the blacklist module decides.
    const undecided = rows.filter((r) => r.suppressed === null);
    const suppressed = new Set<string>();
    for (const r of undecided) {
      if (await this.blacklist.check(r.recipient, r.stream)) suppressed.add(r.external_message_id);
    }
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
        stream: r.stream,
        details: r.status_details,
        sendAt: r.send_at,
        attachmentSet: r.attachment_set,
        suppressed: r.suppressed ?? suppressed.has(r.external_message_id),
      };
    });
  }

  /** Gives a claimed message back (e.g. no rate-control token) without using an attempt. */
  async release(id: string, errorMessage?: string): Promise<void> {
    await this.ds.query(
      `WITH released AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('release')}', updated_at = now(),
                error_message = COALESCE($2, e.error_message)
          WHERE e.id = $1 AND ${statusGuardSql('e.status', 'release')}
          RETURNING e.id, e.previous_status, e.recipient_domain, e.stream)
       ${outboxInsertSql({
         source: 'released',
         cause: 'release',
         details: `CASE WHEN $2::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error', $2::text) END`,
       })}`,
      [id, errorMessage ?? null],
    );
  }

  /** After a retryable transport error: back to `queued` with the error and one more try counted. */
  async recordTransientError(id: string, errorMessage: string): Promise<void> {
    await this.ds.query(
      `WITH requeued AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('transient_error')}',
                error_message = left($2, 1000), updated_at = now()
          WHERE e.id = $1 AND ${statusGuardSql('e.status', 'transient_error')}
          RETURNING e.id, e.previous_status, e.recipient_domain, e.stream, e.error_message)
       ${outboxInsertSql({
         source: 'requeued',
         cause: 'transient_error',
         details: `jsonb_build_object('error', error_message)`,
       })}`,
      [id, errorMessage],
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
      subject?: string | null;
    },
    detailsPatch: Record<string, unknown> | null,
  ): Promise<boolean> {
    return this.sentUpdates.submit({ id, ...sent, detailsPatch });
  }

  private readonly sentUpdates = new MicroBatcher(async (items: SentUpdate[]) => {
    const firstIndex = firstIndexes(items.map((i) => i.id));
    const unique = [...firstIndex.values()].map((i) => items[i]);
    const rows: Array<{ email_log_id: string }> = await this.ds.query(
      `WITH input AS (
         SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[], $6::text[])
           AS u(id, provider_message_id, provider_token, postal_message_id, patch, subject)),
       updated AS (
         UPDATE email_logs e
            SET ${leaveStatusSql('e')}, status = '${targetOf('provider_accepted')}', sent_at = now(),
                updated_at = now(), error_message = NULL,
                provider_message_id = u.provider_message_id, provider_token = u.provider_token,
                postal_message_id = u.postal_message_id, subject = COALESCE(u.subject, e.subject),
                status_details = CASE WHEN u.patch IS NULL THEN e.status_details ELSE e.status_details || u.patch END
           FROM input u
          WHERE e.id = u.id AND ${statusGuardSql('e.status', 'provider_accepted')}
          RETURNING e.id, e.recipient_domain, e.stream, e.previous_status, u.provider_message_id)
       ${outboxInsertSql({
         source: 'updated',
         cause: 'provider_accepted',
         details: `jsonb_build_object('provider_message_id', provider_message_id::text)`,
       })}
       RETURNING email_log_id`,
      [
        unique.map((u) => u.id),
        unique.map((u) => u.providerMessageId),
        unique.map((u) => u.providerToken),
        unique.map((u) => u.postalMessageId),
        unique.map((u) => (u.detailsPatch ? JSON.stringify(u.detailsPatch) : null)),
        unique.map((u) => u.subject ?? null),
      ],
    );
    const done = new Set(rows.map((r) => String(r.email_log_id)));
    return items.map((it, i) => firstIndex.get(it.id) === i && done.has(it.id));
  }, DELIVERY_BATCHING);

  /** The worker's permanent failure: `failed` with the reason and a `failed` event. */
  markFailed(
    id: string,
    errorMessage: string,
    details?: Record<string, unknown>,
  ): Promise<boolean> {
    return this.transitions.markFailed(id, errorMessage, details);
  }
}
