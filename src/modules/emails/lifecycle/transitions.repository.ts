import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Stream } from 'src/common/streams';
import type { EmailStatus } from 'src/modules/emails/email-log.entity';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import {
  statusGuardSql,
  targetOf,
  type TransitionCause,
} from 'src/modules/emails/lifecycle/transitions';

/** Group commit for the delivery hot path: a worker's concurrent jobs share statements. */
export const DELIVERY_BATCHING = { maxBatchSize: 200, maxInFlight: 4 };

/** The index of each id's first item: the same message twice in one batch acts once. */
export function firstIndexes<K>(keys: K[]): Map<K, number> {
  const first = new Map<K, number>();
  keys.forEach((k, i) => {
    if (!first.has(k)) first.set(k, i);
  });
  return first;
}

/**
 * The SET item of every status UPDATE: the status it leaves, read from the row version the
 * UPDATE changes (SET sees the row as it was), so RETURNING gives the exact `from_status`
 * under concurrency without a prior read or row lock.
 */
export function leaveStatusSql(alias: string): string {
  return `previous_status = ${alias}.status`;
}

/**
 * The outbox rows (docs/ARCHITECTURE.md "Transition events") of the transitions that CTE
 * `source` returned — its rows carry `id`, `previous_status`, `recipient_domain` and `stream`
 * (given here, so the event's trigger need not look them up) — written by the same statement as the
 * UPDATE. `causeSql` overrides the cause's literal (the claim tells `claim` from
 * `reclaim_stale` by the status it left).
 */
export function outboxInsertSql(o: {
  source: string;
  cause: TransitionCause;
  details: string;
  causeSql?: string;
}): string {
  return `INSERT INTO email_events (email_log_id, event_type, details, recipient_domain, stream, from_status, cause)
       SELECT id, '${targetOf(o.cause)}', ${o.details}, recipient_domain, stream, previous_status, ${o.causeSql ?? `'${o.cause}'`}
         FROM ${o.source}`;
}

/**
 * Status changes driven by outcomes and sweeps (docs/ARCHITECTURE.md "Message lifecycle"); the
 * delivery worker's own are in delivery-transitions.repository.ts. Each guard comes from the
 * transition table (`statusGuardSql`), and every transition writes its `email_events` row —
 * the outbox entry, with `from_status` and `cause` — in the same statement. `delivered`, the
 * most frequent outcome, is group-committed with MicroBatcher.
 */
@Injectable()
export class TransitionsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * → `delivered` with a `delivered` event (Postal MessageSent). The most frequent outcome:
   * concurrent ones share one statement.
   */
  markDelivered(id: string, deliveredAt: Date, details: Record<string, unknown>): Promise<boolean> {
    return this.deliveredUpdates.submit({ id, deliveredAt, details });
  }

  private readonly deliveredUpdates = new MicroBatcher(
    async (
      items: Array<{ id: string; deliveredAt: Date; details: Record<string, unknown> }>,
    ): Promise<boolean[]> => {
      const firstIndex = firstIndexes(items.map((i) => i.id));
      const unique = [...firstIndex.values()].map((i) => items[i]);
      const rows: Array<{ email_log_id: string }> = await this.ds.query(
        `WITH input AS (
           SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::jsonb[])
             AS u(id, delivered_at, details)),
         updated AS (
           UPDATE email_logs e
              SET ${leaveStatusSql('e')}, status = 'delivered', updated_at = now(),
                  delivered_at = u.delivered_at
             FROM input u
            WHERE e.id = u.id AND ${statusGuardSql('e.status', 'delivered')}
            RETURNING e.id, e.previous_status, e.recipient_domain, e.stream, u.details)
         ${outboxInsertSql({ source: 'updated', cause: 'delivered', details: 'details' })}
         RETURNING email_log_id`,
        [
          unique.map((u) => u.id),
          unique.map((u) => u.deliveredAt),
          unique.map((u) => JSON.stringify(u.details)),
        ],
      );
      const done = new Set(rows.map((r) => String(r.email_log_id)));
      return items.map((it, i) => firstIndex.get(it.id) === i && done.has(it.id));
    },
    DELIVERY_BATCHING,
  );

  /**
   * A transition of one message: `cause` names the target and the statuses it may
   * leave (the table), `set` more columns, `eventDetails` its event. False when the message
   * is in no status the cause may leave: late or repeated events never move it backwards.
   */
  async transition(
    id: string,
    cause: TransitionCause,
    set: Record<string, unknown>,
    eventDetails: Record<string, unknown>,
  ): Promise<boolean> {
    const to = targetOf(cause);
    const assignments = Object.keys(set).map((col, i) => `${col} = $${i + 2}`);
    const rows: unknown[] = await this.ds.query(
      `WITH updated AS (
         UPDATE email_logs e
            SET ${leaveStatusSql('e')}, status = '${to}', updated_at = now()${assignments.length ? ', ' + assignments.join(', ') : ''}
          WHERE e.id = $1 AND ${statusGuardSql('e.status', cause)}
          RETURNING e.id, e.previous_status, e.recipient_domain, e.stream)
       ${outboxInsertSql({ source: 'updated', cause, details: `$${assignments.length + 2}::jsonb` })}
       RETURNING email_log_id`,
      [id, ...Object.values(set), JSON.stringify(eventDetails)],
    );
    return rows.length > 0;
  }

  /** The worker's permanent failure: `failed` with the reason and a `failed` event. */
  markFailed(
    id: string,
    errorMessage: string,
    details: Record<string, unknown> = {},
  ): Promise<boolean> {
    const error = errorMessage.slice(0, 1000);
    return this.transition(id, 'delivery_failed', { error_message: error }, { ...details, error });
  }

  /**
   * `cancel`: every row of the API message `messageId` that no worker holds (queued, scheduled,
   * retry_scheduled) → `canceled`, with its `canceled` event, in one statement. The rows are
   * locked first, so a concurrent claim either committed before (its row is `processing` and
   * stays so) or waits and then finds the row `canceled` (README "Cancel and reschedule").
   * Answers each row's status before the statement and whether it was canceled.
   */
  async cancelMessage(
    messageId: string,
    details: Record<string, unknown>,
  ): Promise<Array<{ status: EmailStatus; canceled: boolean }>> {
    const rows: Array<{ status: EmailStatus; canceled: boolean }> = await this.ds.query(
      `WITH target AS (
         SELECT l.id, l.status FROM email_logs l
          WHERE (l.external_message_id = $1 OR l.message_id = $1) ORDER BY l.id FOR UPDATE OF l),
       updated AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('cancel')}',
                next_retry_at = NULL, updated_at = now()
           FROM target t
          WHERE e.id = t.id AND ${statusGuardSql('e.status', 'cancel')}
          RETURNING e.id, e.previous_status, e.recipient_domain, e.stream),
       events AS (
         ${outboxInsertSql({ source: 'updated', cause: 'cancel', details: '$2::jsonb' })})
       SELECT t.status, (u.id IS NOT NULL) AS canceled
         FROM target t LEFT JOIN updated u ON u.id = t.id ORDER BY t.id`,
      [messageId, JSON.stringify(details)],
    );
    return rows;
  }

  /**
   * `cancel` for what is left of a batch, in one statement. Rows a claim holds at this moment
   * are skipped (SKIP LOCKED: that claim is taking them to `processing`), so the statement
   * never waits on, nor deadlocks with, the delivery workers. Answers the canceled messages.
   */
  async cancelBatch(batchId: string, details: Record<string, unknown>): Promise<string[]> {
    const rows: Array<{ external_message_id: string }> = await this.ds.query(
      `WITH target AS (
         SELECT l.id, l.status FROM email_logs l
          WHERE l.batch_id = $1 AND ${statusGuardSql('l.status', 'cancel')}
          ORDER BY l.id FOR UPDATE OF l SKIP LOCKED),
       updated AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('cancel')}',
                next_retry_at = NULL, updated_at = now()
           FROM target t
          WHERE e.id = t.id AND ${statusGuardSql('e.status', 'cancel')}
          RETURNING e.id, e.external_message_id, e.previous_status, e.recipient_domain, e.stream),
       events AS (
         ${outboxInsertSql({ source: 'updated', cause: 'cancel', details: '$2::jsonb' })})
       SELECT external_message_id FROM updated`,
      [batchId, JSON.stringify(details)],
    );
    return rows.map((r) => r.external_message_id);
  }

  /**
   * A new `send_at` for every row of the API message that is still `queued` (not claimed, not
   * sent), in one statement under the same row locks as `cancelMessage`. No status changes:
   * the delivery worker reads `send_at` after its claim, so the row is the truth whatever the
   * queue's job says. Answers each row's status and whether it was moved.
   */
  async rescheduleMessage(
    messageId: string,
    sendAt: Date | null,
  ): Promise<
    Array<{ status: EmailStatus; rescheduled: boolean; recipient_domain: string; stream: Stream }>
  > {
    return this.ds.query(
      `WITH target AS (
         SELECT l.id, l.status FROM email_logs l
          WHERE (l.external_message_id = $1 OR l.message_id = $1) ORDER BY l.id FOR UPDATE OF l),
       updated AS (
         UPDATE email_logs e SET send_at = $2, updated_at = now()
           FROM target t
          WHERE e.id = t.id AND e.status = 'queued'
          RETURNING e.id, e.recipient_domain, e.stream)
       SELECT t.status, (u.id IS NOT NULL) AS rescheduled, u.recipient_domain, u.stream
         FROM target t LEFT JOIN updated u ON u.id = t.id ORDER BY t.id`,
      [messageId, sendAt],
    );
  }

  /**
   * Due soft-bounce retries back to `queued` (retry_count + 1), at most `limit` per call.
   * Returns them for enqueueing. One statement; SKIP LOCKED lets several workers share it.
   */
  async requeueDueRetries(
    limit: number,
  ): Promise<Array<{ messageId: string; recipient: string; retryCount: number; stream: Stream }>> {
    const rows: Array<{
      external_message_id: string;
      recipient: string;
      retry_count: number;
      stream: Stream;
    }> = await this.ds.query(
      `WITH due AS (
         SELECT id FROM email_logs
          WHERE ${statusGuardSql('status', 'retry_due')} AND next_retry_at <= now()
          ORDER BY next_retry_at LIMIT $1 FOR UPDATE SKIP LOCKED),
       updated AS (
         UPDATE email_logs l SET ${leaveStatusSql('l')}, status = '${targetOf('retry_due')}',
                retry_count = l.retry_count + 1, next_retry_at = NULL, updated_at = now()
           FROM due WHERE l.id = due.id AND ${statusGuardSql('l.status', 'retry_due')}
         RETURNING l.id, l.external_message_id, l.recipient, l.retry_count, l.stream,
                   l.previous_status, l.recipient_domain),
       published AS (
         ${outboxInsertSql({ source: 'updated', cause: 'retry_due', details: "jsonb_build_object('retry_count', retry_count)" })})
       SELECT external_message_id, recipient, retry_count, stream FROM updated`,
      [limit],
    );
    return rows.map((r) => ({
      messageId: r.external_message_id,
      recipient: r.recipient,
      retryCount: r.retry_count,
      stream: r.stream,
    }));
  }

  /** `processing` rows untouched for `olderThanS` back to `queued`; returns how many. */
  async requeueAbandonedClaims(olderThanS: number): Promise<number> {
    const rows: unknown[] = await this.ds.query(
      `WITH reset AS (
         UPDATE email_logs e SET ${leaveStatusSql('e')}, status = '${targetOf('abandoned_claim')}',
                updated_at = now() - make_interval(secs => 120)
          WHERE ${statusGuardSql('e.status', 'abandoned_claim')} AND e.updated_at < now() - make_interval(secs => $1)
          RETURNING e.id, e.previous_status, e.recipient_domain, e.stream),
       published AS (
         ${outboxInsertSql({ source: 'reset', cause: 'abandoned_claim', details: "jsonb_build_object('stale_after_s', $1::int)" })})
       SELECT id FROM reset`,
      [olderThanS],
    );
    return rows.length;
  }
}
