import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { STREAMS, type Stream } from 'src/common/streams';
import {
  HourlyCounts,
  HourlyCountsAt,
  HourlyRow,
  withRates,
  zeroCounts,
} from 'src/modules/analytics/hourly-counts';

/**
 * The hourly counters in one pass: one FILTER clause per counter, each counting distinct
 * messages, so a message opened five times counts once and nothing is loaded into memory.
 * A bounce without a `bounce_type` counts as soft (README "Bounce classification": ties → soft).
 */
const COUNTERS = `
  count(DISTINCT e.email_log_id) FILTER (WHERE e.event_type = 'sent')::int AS sent,
  count(DISTINCT e.email_log_id) FILTER (WHERE e.event_type = 'delivered')::int AS delivered,
  count(DISTINCT e.email_log_id) FILTER (
    WHERE e.event_type = 'bounced' AND e.details->>'bounce_type' = 'hard')::int AS bounced_hard,
  count(DISTINCT e.email_log_id) FILTER (
    WHERE e.event_type = 'bounced' AND e.details->>'bounce_type' IS DISTINCT FROM 'hard'
  )::int AS bounced_soft,
  count(DISTINCT e.email_log_id) FILTER (WHERE e.event_type = 'complained')::int AS complained,
  count(DISTINCT e.email_log_id) FILTER (WHERE e.event_type = 'opened')::int AS opened,
  count(DISTINCT e.email_log_id) FILTER (WHERE e.event_type = 'clicked')::int AS clicked`;

/** Events of [$1, $2) that feed a counter: a range of idx_email_events_type_occurred_at. */
const EVENTS_IN_WINDOW = `e.event_type IN ('sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked')
  AND e.occurred_at >= $1 AND e.occurred_at < $2`;

/**
 * Each count exists for all streams (`stream` NULL: the grouping set without it) and per
 * stream (README "Streams"): one pass, one sort. Events carry their message's stream and
 * recipient domain (email_events.stream is never NULL), so there is no join to email_logs.
 */
const BY_STREAM = (cols: string): string =>
  `GROUPING SETS ((${cols}), (e.stream${cols ? `, ${cols}` : ''}))`;

/**
 * All domains, [$1, $2): the all-streams row (always there, zeros when nothing happened) and
 * a row per stream that had events.
 */
export const GLOBAL_COUNTS_SQL = `SELECT e.stream, ${COUNTERS}
  FROM email_events e
  WHERE ${EVENTS_IN_WINDOW}
  GROUP BY ${BY_STREAM('')}`;

/**
 * The $3 domains with the most sent messages in [$1, $2), busiest first: over all streams
 * (stream NULL) and, separately, within each stream.
 */
export const TOP_DOMAIN_COUNTS_SQL = `SELECT stream, domain, sent, delivered, bounced_hard,
       bounced_soft, complained, opened, clicked
  FROM (SELECT c.*, row_number() OVER (PARTITION BY c.stream ORDER BY c.sent DESC, c.domain) AS rank
          FROM (SELECT e.stream, e.recipient_domain AS domain, ${COUNTERS}
                  FROM email_events e
                 WHERE ${EVENTS_IN_WINDOW}
                 GROUP BY ${BY_STREAM('e.recipient_domain')}) c) ranked
  WHERE rank <= $3
  ORDER BY stream NULLS FIRST, sent DESC, domain`;

/** One domain ($3) in [$1, $2), for all streams and per stream; no row when it had no event. */
export const DOMAIN_COUNTS_SQL = `SELECT e.stream, e.recipient_domain AS domain, ${COUNTERS}
  FROM email_events e
  WHERE ${EVENTS_IN_WINDOW} AND e.recipient_domain = $3
  GROUP BY ${BY_STREAM('e.recipient_domain')}`;

const HOUR_OF_EVENT = `date_trunc('hour', e.occurred_at, 'UTC')`;

/**
 * One campaign ($3) in [$1, $2), per hour: a row per hour with domain NULL (all its domains)
 * and a row per hour and domain, each for all streams (stream NULL) and per stream. With
 * `$4`, only that recipient domain.
 */
export function campaignHourlyCountsSql(withDomain: boolean): string {
  const h = HOUR_OF_EVENT;
  return `SELECT ${h} AS hour, e.stream, l.recipient_domain AS domain, ${COUNTERS}
  FROM email_events e
  JOIN email_logs l ON l.id = e.email_log_id
  WHERE ${EVENTS_IN_WINDOW} AND l.campaign_id = $3${withDomain ? ' AND l.recipient_domain = $4' : ''}
  GROUP BY GROUPING SETS ((${h}), (${h}, l.recipient_domain), (${h}, e.stream),
                          (${h}, e.stream, l.recipient_domain))`;
}

/**
 * Aggregating a busy hour sorts millions of (message, counter) pairs: give this one
 * transaction the memory to do it without spilling to disk, and skip JIT compilation, which
 * costs more than it saves on these plans.
 */
export const AGGREGATION_SETTINGS = [`SET LOCAL work_mem = '128MB'`, `SET LOCAL jit = off`];

/** Namespace of the advisory lock that serialises two aggregations of the same hour. */
const HOUR_LOCK_NAMESPACE = 0x4853; // "HS"

interface CountsRecord {
  stream: Stream | null;
  sent: number;
  delivered: number;
  bounced_hard: number;
  bounced_soft: number;
  complained: number;
  opened: number;
  clicked: number;
}

/** bigint sums arrive as strings. */
type SumRecord = { [K in Exclude<keyof CountsRecord, 'stream'>]: number | string } & {
  stream: Stream | null;
};

function toCounts(r: CountsRecord | SumRecord): HourlyCounts & { stream: Stream | null } {
  return {
    stream: r.stream,
    sent: Number(r.sent),
    delivered: Number(r.delivered),
    bouncedHard: Number(r.bounced_hard),
    bouncedSoft: Number(r.bounced_soft),
    complained: Number(r.complained),
    opened: Number(r.opened),
    clicked: Number(r.clicked),
  };
}

const SUMS = `
  sum(sent)::bigint AS sent, sum(delivered)::bigint AS delivered,
  sum(bounced_hard)::bigint AS bounced_hard, sum(bounced_soft)::bigint AS bounced_soft,
  sum(complained)::bigint AS complained, sum(opened)::bigint AS opened,
  sum(clicked)::bigint AS clicked`;

export type BucketUnit = 'hour' | 'day';

/** What the stats API reads from hourly_stats: a window, minus the hours it computes live. */
export interface StoredWindow {
  from: Date;
  to: Date;
  /** Hours read separately (the live hour and the one before): their rows are skipped here. */
  skipHours: Date[];
}

export interface DomainTotals extends HourlyCounts {
  domain: string;
}

/** Stored sums of one bucket for one stream level (`stream` null = all streams). */
export interface BucketSums extends HourlyCounts {
  at: Date;
  stream: Stream | null;
}

export interface ErrorCount {
  smtpCode: string | null;
  message: string;
  count: number;
}

/** Statuses whose error_message describes a delivery problem (not a cleared one). */
const ERROR_STATUSES = ['bounced', 'failed', 'retry_scheduled'];

/**
 * Groups error texts that differ only by the recipient: addresses are redacted (no PII leaves
 * through the API) and whitespace collapsed.
 */
const NORMALISED_ERROR = `left(btrim(regexp_replace(
    regexp_replace(error_message, '[[:alnum:]._%+=''-]+@[[:alnum:].-]+', '[email]', 'g'),
    '\\s+', ' ', 'g')), 200)`;

/** hourly_stats and the aggregation SQL that fills it. */
@Injectable()
export class HourlyStatsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Aggregates [hour, hour + 1 h) globally and for its top `topDomains` domains, each over all
   * streams and per stream, then upserts the rows and deletes that hour's domain rows that fell
   * out of the top, in one transaction: re-running an hour replaces it. The two levels are
   * independent reads of a past hour, so they run at the same time on two connections.
   * Rows: the all-streams global row first, then every stream's global row (zeros when it sent
   * nothing), then the domain rows.
   */
  async aggregateAndStoreHour(hour: Date, topDomains: number): Promise<HourlyRow[]> {
    const end = new Date(hour.getTime() + 3600_000);
    const [globals, domains] = await Promise.all([
      this.tuned((em) => this.globalCounts(em, hour, end)),
      this.tuned((em) => this.topDomainCounts(em, hour, end, topDomains)),
    ]);
    const levels: Array<Stream | null> = [null, ...STREAMS];
    const global = levels.map(
      (stream) =>
        globals.find((g) => g.stream === stream) ?? {
          hour,
          stream,
          domain: null,
          ...zeroCounts(),
        },
    );
    const rows = [...global, ...domains].map(withRates);
    await this.ds.transaction(async (em) => {
      // Two runs of the same hour (cron and CLI) write one after the other.
      await em.query(`SELECT pg_advisory_xact_lock($1, $2)`, [
        HOUR_LOCK_NAMESPACE,
        Math.floor(hour.getTime() / 3600_000),
      ]);
      await this.upsert(em, hour, rows);
      await em.query(
        `DELETE FROM hourly_stats h
          WHERE h.hour = $1 AND h.domain IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS k(stream varchar, domain varchar)
                             WHERE k.stream IS NOT DISTINCT FROM h.stream AND k.domain = h.domain)`,
        [
          hour,
          JSON.stringify(
            rows.flatMap((r) =>
              r.domain === null ? [] : [{ stream: r.stream, domain: r.domain }],
            ),
          ),
        ],
      );
    });
    return rows;
  }

  /** Runs `fn` in a transaction with the aggregation's settings. */
  private tuned<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(async (em) => {
      for (const sql of AGGREGATION_SETTINGS) await em.query(sql);
      return fn(em);
    });
  }

  /** Counts of [from, to) without storing them (the live hour of the stats API). */
  async countWindow(
    from: Date,
    to: Date,
    scope: { topDomains: number } | { domain: string } | { global: true },
  ): Promise<HourlyCountsAt[]> {
    const em = this.ds.manager;
    if ('global' in scope) return this.globalCounts(em, from, to);
    if ('topDomains' in scope) return this.topDomainCounts(em, from, to, scope.topDomains);
    const rows: Array<CountsRecord & { domain: string }> = await em.query(DOMAIN_COUNTS_SQL, [
      from,
      to,
      scope.domain,
    ]);
    return rows.map((r) => ({ hour: from, domain: r.domain, ...toCounts(r) }));
  }

  /**
   * One campaign's counts per hour (domain null) and per hour and domain, over [from, to),
   * each for all streams (stream null) and per stream.
   */
  async campaignHourlyCounts(
    from: Date,
    to: Date,
    campaignId: string,
    domain: string | null,
  ): Promise<HourlyCountsAt[]> {
    const rows: Array<CountsRecord & { hour: Date; domain: string | null }> = await this.ds.query(
      campaignHourlyCountsSql(domain !== null),
      domain === null ? [from, to, campaignId] : [from, to, campaignId, domain],
    );
    return rows.map((r) => ({ hour: r.hour, domain: r.domain, ...toCounts(r) }));
  }

  /**
   * The stored rows of one hour, every stream level (none when the hourly job has not run for
   * it; only all-streams rows for hours aggregated before streams were counted apart).
   */
  async hourRows(hour: Date): Promise<HourlyCountsAt[]> {
    const rows: Array<CountsRecord & { domain: string | null }> = await this.ds.query(
      `SELECT stream, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked
         FROM hourly_stats WHERE hour = $1`,
      [hour],
    );
    return rows.map((r) => ({ hour, domain: r.domain, ...toCounts(r) }));
  }

  /**
   * Stored counts summed per bucket (hour or UTC day) and stream level (stream null = all
   * streams), for the global rows or one domain's. Buckets without a row are absent.
   */
  async sumsPerBucket(
    w: StoredWindow,
    unit: BucketUnit,
    domain: string | null,
  ): Promise<BucketSums[]> {
    const rows: Array<SumRecord & { at: Date }> = await this.ds.query(
      `SELECT date_trunc($4, hour, 'UTC') AS at, stream, ${SUMS}
         FROM hourly_stats
        WHERE hour >= $1 AND hour < $2 AND NOT (hour = ANY($3::timestamptz[]))
          AND ${domain === null ? 'domain IS NULL' : 'domain = $5'}
        GROUP BY 1, 2
        ORDER BY 1, 2`,
      domain === null
        ? [w.from, w.to, w.skipHours, unit]
        : [w.from, w.to, w.skipHours, unit, domain],
    );
    return rows.map((r) => ({ at: r.at, ...toCounts(r) }));
  }

  /**
   * Stored sums of the window per domain, every domain (those that made an hour's top 10 in
   * the window: a few dozen to a few hundred), so that adding the live hour to them gives the
   * exact top of the window.
   */
  async domainSums(w: StoredWindow, stream: Stream | null): Promise<DomainTotals[]> {
    const rows: Array<SumRecord & { domain: string }> = await this.ds.query(
      `SELECT domain, NULL AS stream, ${SUMS}
         FROM hourly_stats
        WHERE hour >= $1 AND hour < $2 AND NOT (hour = ANY($3::timestamptz[]))
          AND domain IS NOT NULL AND ${stream === null ? 'stream IS NULL' : 'stream = $4'}
        GROUP BY domain`,
      stream === null ? [w.from, w.to, w.skipHours] : [w.from, w.to, w.skipHours, stream],
    );
    return rows.map((r) => ({ domain: r.domain, ...toCounts(r) }));
  }

  /**
   * The most frequent errors of messages accepted in [from, to): grouped by SMTP code and the
   * normalised text, recipient addresses redacted.
   */
  async topErrors(
    from: Date,
    to: Date,
    filter: { domain: string | null; campaignId: string | null; stream?: Stream | null },
    limit: number,
  ): Promise<ErrorCount[]> {
    const params: unknown[] = [from, to, ERROR_STATUSES, limit];
    const where: string[] = [];
    if (filter.domain !== null) {
      params.push(filter.domain);
      where.push(`AND recipient_domain = $${params.length}`);
    }
    if (filter.stream) {
      params.push(filter.stream);
      where.push(`AND stream = $${params.length}`);
    }
    if (filter.campaignId !== null) {
      params.push(filter.campaignId);
      where.push(`AND campaign_id = $${params.length}`);
    }
    const rows: Array<{ smtp_code: string | null; message: string; count: number }> =
      await this.ds.query(
        `SELECT smtp_code, message, count(*)::int AS count
           FROM (SELECT smtp_code, ${NORMALISED_ERROR} AS message
                   FROM email_logs
                  WHERE created_at >= $1 AND created_at < $2 AND status = ANY($3::varchar[])
                    AND error_message IS NOT NULL ${where.join(' ')}) errors
          GROUP BY smtp_code, message
          ORDER BY count DESC, smtp_code NULLS LAST, message
          LIMIT $4`,
        params,
      );
    return rows.map((r) => ({ smtpCode: r.smtp_code, message: r.message, count: r.count }));
  }

  private async globalCounts(em: EntityManager, from: Date, to: Date): Promise<HourlyCountsAt[]> {
    const rows: CountsRecord[] = await em.query(GLOBAL_COUNTS_SQL, [from, to]);
    return rows.map((r) => ({ hour: from, domain: null, ...toCounts(r) }));
  }

  private async topDomainCounts(
    em: EntityManager,
    from: Date,
    to: Date,
    limit: number,
  ): Promise<HourlyCountsAt[]> {
    const rows: Array<CountsRecord & { domain: string }> = await em.query(TOP_DOMAIN_COUNTS_SQL, [
      from,
      to,
      limit,
    ]);
    return rows.map((r) => ({ hour: from, domain: r.domain, ...toCounts(r) }));
  }

  /** INSERT … ON CONFLICT on the (hour, stream, domain) NULLS NOT DISTINCT unique index. */
  private async upsert(em: EntityManager, hour: Date, rows: HourlyRow[]): Promise<void> {
    await em.query(
      `INSERT INTO hourly_stats (hour, stream, domain, sent, delivered, bounced_hard, bounced_soft,
                                 complained, opened, clicked, delivery_rate, bounce_rate,
                                 complaint_rate)
       SELECT $1, r.stream, r.domain, r.sent, r.delivered, r.bounced_hard, r.bounced_soft, r.complained,
              r.opened, r.clicked, r.delivery_rate, r.bounce_rate, r.complaint_rate
         FROM jsonb_to_recordset($2::jsonb) AS r(stream varchar, domain varchar, sent int, delivered int,
              bounced_hard int, bounced_soft int, complained int, opened int, clicked int,
              delivery_rate numeric, bounce_rate numeric, complaint_rate numeric)
       ON CONFLICT (hour, stream, domain) DO UPDATE SET
         sent = EXCLUDED.sent, delivered = EXCLUDED.delivered,
         bounced_hard = EXCLUDED.bounced_hard, bounced_soft = EXCLUDED.bounced_soft,
         complained = EXCLUDED.complained, opened = EXCLUDED.opened, clicked = EXCLUDED.clicked,
         delivery_rate = EXCLUDED.delivery_rate, bounce_rate = EXCLUDED.bounce_rate,
         complaint_rate = EXCLUDED.complaint_rate, updated_at = now()`,
      [
        hour,
        JSON.stringify(
          rows.map((r) => ({
            stream: r.stream,
            domain: r.domain,
            sent: r.sent,
            delivered: r.delivered,
            bounced_hard: r.bouncedHard,
            bounced_soft: r.bouncedSoft,
            complained: r.complained,
            opened: r.opened,
            clicked: r.clicked,
            delivery_rate: r.deliveryRate,
            bounce_rate: r.bounceRate,
            complaint_rate: r.complaintRate,
          })),
        ),
      ],
    );
  }
}
