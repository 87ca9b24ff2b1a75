import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, Not, In, Repository } from 'typeorm';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import type { Stream } from 'src/common/streams';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog, EmailStatus } from 'src/modules/emails/email-log.entity';
import { INTERNAL_CAUSES, statusGuardSql } from 'src/modules/emails/lifecycle/transitions';

/** A message as delivery events (webhooks, sandbox, complaints) need it. */
export interface EventTarget {
  id: string;
  messageId: string;
  status: EmailStatus;
  recipient: string;
  recipientDomain: string;
  campaignId: string | null;
  retryCount: number;
  stream: Stream;
}

/** How a Postal event names a message; tried in this order (README "How mail flows", 4). */
export interface MessageMatch {
  postalId?: string | number | null;
  token?: string | null;
  postalMessageId?: string | null;
  messageId?: string | null;
}

export interface MessageListFilter {
  status?: EmailStatus;
  recipient?: string;
  campaignId?: string;
  domain?: string;
  from?: Date;
  to?: Date;
  batchId?: string;
  stream?: string;
  limit: number;
  /** Keyset: rows with a smaller id (ids grow with insertion, so this is newest first). */
  beforeId?: string;
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
    stream: (r.stream as Stream | undefined) ?? 'transactional',
  };
}

/** Reads of email_logs and email_events: lookups for events, the API, the sweeps. */
@Injectable()
export class MessageReadsRepository {
  constructor(
    @InjectRepository(EmailLog) private readonly logs: Repository<EmailLog>,
    @InjectRepository(EmailEvent) private readonly events: Repository<EmailEvent>,
    @InjectDataSource() private readonly ds: DataSource,
  ) {}

  findByMessageId(messageId: string): Promise<EmailLog | null> {
    return this.logs.findOne({ where: { externalMessageId: messageId } });
  }

  /** The delivery records of an API message with several recipients, in accept order. */
  findByApiMessageId(messageId: string): Promise<EmailLog[]> {
    return this.logs.find({ where: { messageId }, order: { id: 'ASC' } });
  }

  /** The timelines of several delivery records as the API shows them, merged in time order. */
  eventsOfAll(emailLogIds: string[]): Promise<EmailEvent[]> {
    return this.events.find({
      where: [
        { emailLogId: In(emailLogIds), cause: IsNull() },
        { emailLogId: In(emailLogIds), cause: Not(In([...INTERNAL_CAUSES])) },
      ],
      order: { occurredAt: 'ASC', id: 'ASC' },
    });
  }

  /**
   * A message's timeline as the API shows it: without the worker's internal transitions
   * (claims and hand-backs, `INTERNAL_CAUSES`; docs/ARCHITECTURE.md "Transition events").
   */
  eventsOf(emailLogId: string): Promise<EmailEvent[]> {
    return this.events.find({
      where: [
        { emailLogId, cause: IsNull() },
        { emailLogId, cause: Not(In([...INTERNAL_CAUSES])) },
      ],
      order: { occurredAt: 'ASC', id: 'ASC' },
    });
  }

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
        `SELECT id, external_message_id, status, recipient, recipient_domain, campaign_id, retry_count, stream
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
                campaign_id, retry_count, stream, provider_token
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
    { maxBatchSize: 200, maxInFlight: 4 },
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

  /** Due retries (for the suppression re-check before they are re-queued). */
  async dueRetryRecipients(
    limit: number,
  ): Promise<Array<{ id: string; recipient: string; stream: Stream }>> {
    const rows: Array<{ id: string; recipient: string; stream: Stream }> = await this.ds.query(
      `SELECT id, recipient, stream FROM email_logs
        WHERE ${statusGuardSql('status', 'retry_due')} AND next_retry_at <= now()
        ORDER BY next_retry_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ id: String(r.id), recipient: r.recipient, stream: r.stream }));
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
    if (f.stream) qb.andWhere('l.stream = :stream', { stream: f.stream });
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
    Array<{
      messageId: string;
      sendAt: Date | null;
      recipient: string;
      retryCount: number;
      stream: Stream;
    }>
  > {
    // Not touched for a minute either: a retry re-queued just now is not stale.
    const rows: Array<{
      external_message_id: string;
      send_at: Date | null;
      recipient: string;
      retry_count: number;
      stream: Stream;
    }> = await this.ds.query(
      `SELECT external_message_id, send_at, recipient, retry_count, stream FROM email_logs
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
      stream: r.stream,
    }));
  }

  /**
   * Per From domain (the address in `sender`), messages created since `since`: how many left
   * (`sent_at` set), how many drew a complaint, and broadcast ones with and without one-click
   * unsubscribe (`status_details.options.unsubscribe`). Reads the `created_at` range
   * (idx_logs_created_status); the dashboard's sending-domains page only.
   */
  async senderDomainStats(
    domains: string[],
    since: Date,
  ): Promise<
    Map<
      string,
      { sent: number; complained: number; broadcast: number; broadcastWithoutUnsubscribe: number }
    >
  > {
    const out = new Map<
      string,
      { sent: number; complained: number; broadcast: number; broadcastWithoutUnsubscribe: number }
    >();
    if (domains.length === 0) return out;
    const rows: Array<{
      domain: string;
      sent: string;
      complained: string;
      broadcast: string;
      broadcast_without_unsubscribe: string;
    }> = await this.ds.query(
      `SELECT d.domain,
              count(*) FILTER (WHERE l.sent_at IS NOT NULL) AS sent,
              count(*) FILTER (WHERE l.status = 'complained') AS complained,
              count(*) FILTER (WHERE l.stream = 'broadcast' AND l.sent_at IS NOT NULL) AS broadcast,
              count(*) FILTER (WHERE l.stream = 'broadcast' AND l.sent_at IS NOT NULL
                                 AND l.status_details #>> '{options,unsubscribe}' = 'false')
                AS broadcast_without_unsubscribe
         FROM email_logs l
         JOIN unnest($1::text[]) AS d(domain)
           ON lower(substring(l.sender FROM '@([^@<>[:space:]]+)>?[[:space:]]*$')) = d.domain
        WHERE l.created_at >= $2
        GROUP BY d.domain`,
      [domains, since],
    );
    for (const r of rows) {
      out.set(r.domain, {
        sent: Number(r.sent),
        complained: Number(r.complained),
        broadcast: Number(r.broadcast),
        broadcastWithoutUnsubscribe: Number(r.broadcast_without_unsubscribe),
      });
    }
    return out;
  }
}
