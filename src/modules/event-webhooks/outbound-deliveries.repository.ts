import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EventType, OutboundEventInput } from 'src/modules/event-webhooks/event-types';
import type { DeliveryStatus } from 'src/modules/event-webhooks/outbound-delivery.entity';

/** A claimed delivery, ready to send. */
export interface ClaimedDelivery {
  id: string;
  attempts: number;
  /** `msg_` + the event's id: the `webhook-id`, the same on every attempt. */
  msgId: string;
  body: string;
}

/** The outcome of one attempt, to record. */
export interface AttemptRecord {
  id: string;
  status: Exclude<DeliveryStatus, 'sending'>;
  nextAttemptAt: Date | null;
  /** When the request started, and when its outcome was known. */
  startedAt: Date;
  at: Date;
  responseStatus: number | null;
  responseBody: string | null;
  durationMs: number;
  error: string | null;
}

/** A delivery as listed (the attempts log). */
export interface DeliveryRow {
  id: string;
  event_id: string;
  type: EventType;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  response_status: number | null;
  response_body: string | null;
  duration_ms: number | null;
  error: string | null;
  created_at: Date;
  endpoint_id: string;
}

/** One attempt of a delivery, as listed. */
export interface AttemptRow {
  attempt: number;
  started_at: Date;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
}

/** What an endpoint matches, for a replay. */
export interface EndpointFilters {
  events: string[] | null;
  stream: string | null;
  campaign_ids: string[] | null;
  tags: string[] | null;
}

/** How long a claim holds before another drain may take the delivery over. */
const CLAIM_LEASE_S = 120;

const DELIVERY_COLUMNS = `d.id, e.event_id, e.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
  d.response_status, d.response_body, d.duration_ms, d.error, d.created_at, d.endpoint_id`;

/**
 * outbound_events and outbound_deliveries (README "Event webhooks"). Set-based: a page of
 * events becomes its events and deliveries in one statement; a drain claims and records a
 * chunk per statement.
 */
@Injectable()
export class OutboundDeliveriesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Stores the events (once per source row) and one `pending` delivery per matching enabled
   * endpoint, in one statement; nothing at all while no endpoint exists. Answers, per
   * endpoint, how many deliveries it got and the first one's id.
   */
  async storeAndFanOut(
    events: OutboundEventInput[],
    now: Date,
  ): Promise<Array<{ endpointId: string; count: number; firstId: string }>> {
    const rows: Array<{ endpoint_id: string; n: number; first_id: string }> = await this.ds.query(
      `WITH input AS (
         SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[],
                              $6::timestamptz[], $7::jsonb[])
           AS u(source_key, type, stream, campaign_id, tag, created_at, payload)),
       ev AS (
         INSERT INTO outbound_events (source_key, type, payload, created_at)
         SELECT source_key, type, payload, created_at FROM input
          WHERE EXISTS (SELECT 1 FROM webhook_endpoints)
         ON CONFLICT (source_key) DO NOTHING
         RETURNING id, source_key, type),
       d AS (
         INSERT INTO outbound_deliveries (endpoint_id, outbound_event_id, next_attempt_at)
         SELECT ep.id, ev.id, $8::timestamptz
           FROM ev JOIN input i ON i.source_key = ev.source_key
           JOIN webhook_endpoints ep ON ep.enabled
            AND (ep.events IS NULL OR ep.events ? ev.type)
            AND (ep.stream IS NULL OR ep.stream = i.stream)
            AND (ep.campaign_ids IS NULL OR ep.campaign_ids ? i.campaign_id)
            AND (ep.tags IS NULL OR ep.tags ? i.tag)
         ORDER BY ev.id
         ON CONFLICT DO NOTHING
         RETURNING id, endpoint_id)
       SELECT endpoint_id, count(*)::int AS n, min(id)::text AS first_id FROM d GROUP BY endpoint_id`,
      [
        events.map((e) => e.sourceKey),
        events.map((e) => e.type),
        events.map((e) => e.stream),
        events.map((e) => e.campaignId),
        events.map((e) => e.tag),
        events.map((e) => e.createdAt),
        events.map((e) => JSON.stringify(e.payload)),
        now,
      ],
    );
    return rows.map((r) => ({ endpointId: r.endpoint_id, count: r.n, firstId: r.first_id }));
  }

  /**
   * Claims up to `limit` of the endpoint's due deliveries (or claims left behind by a drain
   * that died) for CLAIM_LEASE_S, oldest first.
   */
  claimDue(endpointId: string, now: Date, limit: number): Promise<ClaimedDelivery[]> {
    return this.ds
      .query(
        `WITH due AS (
           SELECT id FROM outbound_deliveries
            WHERE endpoint_id = $1 AND status IN ('pending', 'sending') AND next_attempt_at <= $2
            ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
         claimed AS (
           UPDATE outbound_deliveries d
              SET status = 'sending', next_attempt_at = $2::timestamptz + make_interval(secs => $4),
                  updated_at = now()
             FROM due, outbound_events e
            WHERE d.id = due.id AND e.id = d.outbound_event_id
            RETURNING d.id, d.attempts, e.event_id, e.payload::text AS body)
         SELECT * FROM claimed`,
        [endpointId, now, limit, CLAIM_LEASE_S],
      )
      .then((rows: Array<{ id: string; attempts: number; event_id: string; body: string }>) =>
        rows
          .sort((a, b) => Number(a.id) - Number(b.id))
          .map((r) => ({
            id: String(r.id),
            attempts: r.attempts,
            msgId: `msg_${r.event_id.replace(/-/g, '')}`,
            body: r.body,
          })),
      );
  }

  /** Gives claimed deliveries that were not sent back, due at `now` (no attempt counted). */
  async unclaim(claimed: ClaimedDelivery[], now: Date): Promise<void> {
    if (claimed.length === 0) return;
    await this.ds.query(
      `UPDATE outbound_deliveries SET status = 'pending', next_attempt_at = $2, updated_at = now()
        WHERE id = ANY($1::bigint[]) AND status = 'sending'`,
      [claimed.map((d) => d.id), now],
    );
  }

  /**
   * Records a chunk's attempts in one statement: each on its delivery (status, schedule, last
   * outcome) and as a row of its history.
   */
  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.ds.query(
      `WITH u AS (
         SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::timestamptz[], $4::timestamptz[],
                              $5::int[], $6::varchar[], $7::int[], $8::varchar[], $9::timestamptz[])
           AS u(id, status, next_at, at, code, body, ms, err, started)),
       upd AS (
         UPDATE outbound_deliveries d
            SET status = u.status, attempts = d.attempts + 1, next_attempt_at = u.next_at,
                last_attempt_at = u.at, response_status = u.code, response_body = u.body,
                duration_ms = u.ms, error = u.err, updated_at = now()
           FROM u
          WHERE d.id = u.id AND d.status = 'sending'
          RETURNING d.id, d.attempts)
       INSERT INTO outbound_delivery_attempts
              (delivery_id, attempt, started_at, duration_ms, response_status, response_body, error)
       SELECT upd.id, upd.attempts, u.started, u.ms, u.code, u.body, u.err
         FROM upd JOIN u ON u.id = upd.id`,
      [
        records.map((r) => r.id),
        records.map((r) => r.status),
        records.map((r) => r.nextAttemptAt),
        records.map((r) => r.at),
        records.map((r) => r.responseStatus),
        records.map((r) => r.responseBody),
        records.map((r) => r.durationMs),
        records.map((r) => r.error?.slice(0, 500) ?? null),
        records.map((r) => r.startedAt),
      ],
    );
  }

  /** A delivery's attempts, oldest first (the newest `limit`). */
  async attempts(deliveryId: string, limit: number): Promise<AttemptRow[]> {
    const rows: AttemptRow[] = await this.ds.query(
      `SELECT attempt, started_at, duration_ms, response_status, response_body, error
         FROM outbound_delivery_attempts WHERE delivery_id = $1
        ORDER BY id DESC LIMIT $2`,
      [deliveryId, limit],
    );
    return rows.reverse();
  }

  /**
   * One batch of the retention prune: up to `limit` events created before `before` none of
   * whose deliveries is still pending or being sent, with their deliveries and attempts (by
   * cascade). Answers how many events went.
   */
  async pruneEvents(before: Date, limit: number): Promise<number> {
    // TypeORM answers a DELETE with [rows, affected].
    const [, affected]: [unknown, number] = await this.ds.query(
      `DELETE FROM outbound_events
        WHERE id = ANY(ARRAY(
          SELECT e.id FROM outbound_events e
           WHERE e.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM outbound_deliveries d
                              WHERE d.outbound_event_id = e.id AND d.status IN ('pending', 'sending'))
           ORDER BY e.created_at LIMIT $2))
          -- again, against a retry or replay that committed meanwhile
          AND NOT EXISTS (SELECT 1 FROM outbound_deliveries d
                           WHERE d.outbound_event_id = outbound_events.id
                             AND d.status IN ('pending', 'sending'))`,
      [before, limit],
    );
    return affected;
  }

  /** When the endpoint's next delivery falls due (null: nothing waits). */
  async nextDue(endpointId: string): Promise<Date | null> {
    const [row]: Array<{ at: Date | null }> = await this.ds.query(
      `SELECT min(next_attempt_at) AS at FROM outbound_deliveries
        WHERE endpoint_id = $1 AND status IN ('pending', 'sending')`,
      [endpointId],
    );
    return row?.at ?? null;
  }

  /** Enabled endpoints with deliveries due by `now` (the sweep). */
  async endpointsWithDue(now: Date): Promise<string[]> {
    const rows: Array<{ endpoint_id: string }> = await this.ds.query(
      `SELECT DISTINCT d.endpoint_id FROM outbound_deliveries d
         JOIN webhook_endpoints ep ON ep.id = d.endpoint_id AND ep.enabled
        WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= $1`,
      [now],
    );
    return rows.map((r) => r.endpoint_id);
  }

  /** The endpoint's deliveries, newest first (keyset on id). */
  list(
    endpointId: string,
    limit: number,
    opts: { before?: string; status?: DeliveryStatus },
  ): Promise<DeliveryRow[]> {
    return this.ds.query(
      `SELECT ${DELIVERY_COLUMNS} FROM outbound_deliveries d
         JOIN outbound_events e ON e.id = d.outbound_event_id
        WHERE d.endpoint_id = $1 AND ($2::bigint IS NULL OR d.id < $2::bigint)
          AND ($3::varchar IS NULL OR d.status = $3::varchar)
        ORDER BY d.id DESC LIMIT $4`,
      [endpointId, opts.before ?? null, opts.status ?? null, limit],
    );
  }

  async find(endpointId: string, id: string): Promise<DeliveryRow | null> {
    const rows: DeliveryRow[] = await this.ds.query(
      `SELECT ${DELIVERY_COLUMNS} FROM outbound_deliveries d
         JOIN outbound_events e ON e.id = d.outbound_event_id
        WHERE d.endpoint_id = $1 AND d.id = $2`,
      [endpointId, id],
    );
    return rows[0] ?? null;
  }

  /** One more attempt now (a delivery being sent right now is left alone). */
  async retryNow(endpointId: string, id: string, now: Date): Promise<DeliveryRow | null> {
    await this.ds.query(
      `UPDATE outbound_deliveries SET status = 'pending', next_attempt_at = $3, updated_at = now()
        WHERE endpoint_id = $1 AND id = $2 AND status <> 'sending'`,
      [endpointId, id, now],
    );
    return this.find(endpointId, id);
  }

  /**
   * Replay: every stored event created in [since, until) that the endpoint matches now (and
   * of `types`, when given) is delivered again from the start of the schedule, with its
   * original webhook-id; deliveries being sent are left alone. Answers how many.
   */
  async replay(
    endpointId: string,
    filters: EndpointFilters,
    window: { since: Date; until: Date; types: string[] | null },
    now: Date,
  ): Promise<number> {
    const rows: unknown[] = await this.ds.query(
      `INSERT INTO outbound_deliveries (endpoint_id, outbound_event_id, next_attempt_at)
       SELECT $1, e.id, $9 FROM outbound_events e
        WHERE e.created_at >= $2 AND e.created_at < $3
          AND ($4::jsonb IS NULL OR $4::jsonb ? e.type)
          AND ($5::varchar IS NULL OR e.payload->'data'->>'stream' = $5::varchar)
          AND ($6::jsonb IS NULL OR $6::jsonb ? (e.payload->'data'->>'campaign_id'))
          AND ($7::jsonb IS NULL OR $7::jsonb ? (e.payload->'data'->>'tag'))
          AND ($8::jsonb IS NULL OR $8::jsonb ? e.type)
       ON CONFLICT (endpoint_id, outbound_event_id) DO UPDATE
          SET status = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at,
              updated_at = now()
        WHERE outbound_deliveries.status <> 'sending'
       RETURNING id`,
      [
        endpointId,
        window.since,
        window.until,
        filters.events ? JSON.stringify(filters.events) : null,
        filters.stream,
        filters.campaign_ids ? JSON.stringify(filters.campaign_ids) : null,
        filters.tags ? JSON.stringify(filters.tags) : null,
        window.types ? JSON.stringify(window.types) : null,
        now,
      ],
    );
    return rows.length;
  }

  /** Health of each endpoint over the deliveries created since `since`. */
  async health(
    since: Date,
  ): Promise<Map<string, { succeeded: number; failed: number; pending: number }>> {
    const rows: Array<{ endpoint_id: string; succeeded: number; failed: number; pending: number }> =
      await this.ds.query(
        `SELECT endpoint_id,
                count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
                count(*) FILTER (WHERE status = 'failed' OR (status = 'pending' AND attempts > 0))::int AS failed,
                count(*) FILTER (WHERE status IN ('pending', 'sending'))::int AS pending
           FROM outbound_deliveries WHERE created_at >= $1 GROUP BY endpoint_id`,
        [since],
      );
    return new Map(rows.map((r) => [r.endpoint_id, r]));
  }
}
