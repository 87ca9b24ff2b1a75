import type { INestApplicationContext } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import {
  AGGREGATION_SETTINGS,
  GLOBAL_COUNTS_SQL,
  TOP_DOMAIN_COUNTS_SQL,
} from 'src/modules/analytics/hourly-stats.repository';

/**
 * What the analytics scenarios need from the bench harness. `BenchEnv` (bench/lib/harness.ts)
 * has all of it; `bench/run-analytics.ts` builds one on its own.
 */
export interface AnalyticsBenchContext {
  /** Raw pool on the (migrated) bench database. */
  pool: Pool;
  /** The running app; its AnalyticsService is what is measured. */
  app: INestApplicationContext;
  /** Where the app listens, e.g. http://127.0.0.1:40123. */
  baseUrl: string;
  /** A `full`-scope API key. */
  apiKey: string;
  log?: (line: string) => void;
}

/** One line of the report; `bench/lib/stats.ts`'s ReportLine plus the raw figures. */
export interface BenchFigure {
  figure: string;
  target: string;
  measured: string;
  baseline: string;
  /** null: informational, no target. */
  pass: boolean | null;
  data?: Record<string, unknown>;
}

const HOUR_MS = 3600_000;
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export const HOURLY_AGGREGATION_SETTINGS = {
  /** email_logs rows in the aggregated hour. */
  messages: num('BENCH_AGG_MESSAGES', 1_000_000),
  /**
   * Events of other hours (the 30 days before), so that the hour is a range of the table as in
   * production rather than most of it: the planner's choice depends on that fraction.
   */
  backgroundEvents: num('BENCH_AGG_BACKGROUND_EVENTS', 3_400_000),
  runs: num('BENCH_AGG_RUNS', 3),
  /** Concurrent INSERT statements while generating. */
  generators: num('BENCH_AGG_GENERATORS', 2),
  targetMs: 2000,
};

/** A fixed hour far from anything the other scenarios write (they write "now"). */
const HOUR = new Date('2020-01-15T10:00:00.000Z');

/**
 * Messages g in [lo, hi] created inside the hour `start`, each with its events: queued and
 * sent; delivered 90 %; bounced hard 2 % / soft 3 %; opened 30 % (a third of them twice);
 * clicked 5 %; complained 0.1 %. 50 recipient domains of skewed size (domain k holds
 * (2k + 1)/2500 of the messages). Everything stays within the hour (offsets < 3,500 s + 80 s).
 */
const GENERATE_SQL = `
  WITH logs AS (
    INSERT INTO email_logs (recipient, sender, subject, status, campaign_id, tag, created_at,
                            updated_at, sent_at)
    SELECT 'user' || g || '@d' || floor(sqrt(g % 2500))::int || '.bench', 'bench@shop.example',
           'Bench', 'delivered', 'bench-' || (g % 20), g::text,
           $3::timestamptz + (g % 3500) * interval '1 second', $3::timestamptz, $3::timestamptz
      FROM generate_series($1::bigint, $2::bigint) g
    RETURNING id, created_at, tag::bigint AS g)
  INSERT INTO email_events (email_log_id, event_type, details, occurred_at)
  SELECT l.id, t.type, t.details::jsonb, l.created_at + t.after
    FROM logs l
    JOIN LATERAL (VALUES
      ('queued', '{}', interval '0 s', true),
      ('sent', '{}', interval '1 s', true),
      ('delivered', '{}', interval '30 s', l.g % 100 < 90),
      ('bounced', '{"bounce_type":"hard","smtp_code":"550"}', interval '40 s', l.g % 100 IN (90, 91)),
      ('bounced', '{"bounce_type":"soft","smtp_code":"452"}', interval '40 s', l.g % 100 IN (92, 93, 94)),
      ('complained', '{}', interval '50 s', l.g % 1000 = 0),
      ('opened', '{}', interval '60 s', l.g % 10 < 3),
      ('opened', '{}', interval '70 s', l.g % 10 = 0),
      ('clicked', '{}', interval '80 s', l.g % 20 = 0)
    ) AS t(type, details, after, keep) ON t.keep`;

/**
 * Events $1..$2 of 10,000 background messages, spread over the 30 days before $3 (never in
 * the measured hour), in the proportions of a real stream.
 */
const GENERATE_BACKGROUND_SQL = `
  INSERT INTO email_events (email_log_id, event_type, details, occurred_at)
  SELECT ids[1 + (i % array_length(ids, 1))],
         (ARRAY['queued', 'sent', 'delivered', 'queued', 'sent', 'delivered', 'opened', 'bounced',
                'clicked', 'delayed'])[1 + (i % 10)],
         '{}'::jsonb,
         $3::timestamptz - (1 + (i * 7919) % (30 * 86400 - 1)) * interval '1 second'
    FROM generate_series($1::bigint, $2::bigint) i,
         (SELECT array_agg(id) AS ids FROM email_logs WHERE campaign_id = 'bench-background') b`;

const GENERATE_BACKGROUND_LOGS_SQL = `
  INSERT INTO email_logs (recipient, status, campaign_id, created_at)
  SELECT 'old' || g || '@background.bench', 'delivered', 'bench-background',
         $1::timestamptz - interval '30 days'
    FROM generate_series(1, 10000) g`;

/** The counters GENERATE_SQL produces for g in 1..n, to check the aggregation's answer. */
export function expectedGlobal(n: number): Record<string, number> {
  let delivered = 0;
  let hard = 0;
  let soft = 0;
  let complained = 0;
  let opened = 0;
  let clicked = 0;
  for (let g = 1; g <= n; g += 1) {
    const p = g % 100;
    if (p < 90) delivered += 1;
    if (p === 90 || p === 91) hard += 1;
    if (p >= 92 && p <= 94) soft += 1;
    if (g % 1000 === 0) complained += 1;
    if (g % 10 < 3) opened += 1;
    if (g % 20 === 0) clicked += 1;
  }
  return {
    sent: n,
    delivered,
    bouncedHard: hard,
    bouncedSoft: soft,
    complained,
    opened,
    clicked,
  };
}

/** Runs `sql` with ($lo, $hi, hour) over `parts` slices of from..to, concurrently. */
async function generate(
  pool: Pool,
  sql: string,
  from: number,
  to: number,
  hour: Date,
  parts: number,
): Promise<void> {
  const size = Math.ceil((to - from + 1) / parts);
  await Promise.all(
    Array.from({ length: parts }, async (_, i) => {
      const lo = from + i * size;
      const hi = Math.min(to, lo + size - 1);
      if (lo > hi) return;
      const client: PoolClient = await pool.connect();
      try {
        await client.query(`SET synchronous_commit = off`);
        await client.query(sql, [lo, hi, hour]);
      } finally {
        client.release();
      }
    }),
  );
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Total Time'?: number;
  Plans?: PlanNode[];
}
const flatten = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(flatten)];

/** EXPLAIN ANALYZE under the aggregation's own settings, reduced to what matters. */
async function explain(
  pool: Pool,
  sql: string,
  params: unknown[],
): Promise<{ ms: number; eventScans: string[]; seqScanOnEvents: boolean; nodes: string[] }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const s of AGGREGATION_SETTINGS) await client.query(s);
    const { rows } = await client.query<{
      'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }>;
    }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
    await client.query('ROLLBACK');
    const [top] = rows[0]['QUERY PLAN'];
    const nodes = flatten(top.Plan);
    const onEvents = (n: PlanNode) =>
      n['Relation Name'] === 'email_events' ||
      (n['Index Name'] ?? '').startsWith('idx_email_events');
    return {
      ms: Math.round(top['Execution Time']),
      eventScans: nodes
        .filter(onEvents)
        .map((n) => `${n['Node Type']}${n['Index Name'] ? ` on ${n['Index Name']}` : ''}`),
      seqScanOnEvents: nodes.some(
        (n) => n['Node Type'].includes('Seq Scan') && n['Relation Name'] === 'email_events',
      ),
      nodes: nodes.map(
        (n) =>
          `${n['Node Type']}${n['Relation Name'] ? ` ${n['Relation Name']}` : ''}${n['Index Name'] ? ` (${n['Index Name']})` : ''}`,
      ),
    };
  } finally {
    client.release();
  }
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Aggregating one hour holding 1,000,000 email_logs rows (~3.4 M events, generated with
 * generate_series) with AnalyticsService.aggregateHour: both levels and the upsert, median of
 * `runs` after a warm-up run. The raw baseline is the two SELECTs alone, and EXPLAIN ANALYZE
 * shows how email_events is read.
 */
export async function run(ctx: AnalyticsBenchContext): Promise<BenchFigure[]> {
  const s = HOURLY_AGGREGATION_SETTINGS;
  const log = ctx.log ?? (() => undefined);
  const end = new Date(HOUR.getTime() + HOUR_MS);

  log(
    `(e) generating ${s.messages} messages in ${HOUR.toISOString()} and ${s.backgroundEvents} events before it…`,
  );
  const genStart = Date.now();
  await ctx.pool.query(GENERATE_BACKGROUND_LOGS_SQL, [HOUR]);
  await generate(ctx.pool, GENERATE_BACKGROUND_SQL, 1, s.backgroundEvents, HOUR, s.generators);
  await generate(ctx.pool, GENERATE_SQL, 1, s.messages, HOUR, s.generators);
  await ctx.pool.query('VACUUM ANALYZE email_logs');
  await ctx.pool.query('VACUUM ANALYZE email_events');
  const generateS = Math.round((Date.now() - genStart) / 100) / 10;
  const {
    rows: [{ n: eventsInHour }],
  } = await ctx.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM email_events WHERE occurred_at >= $1 AND occurred_at < $2`,
    [HOUR, end],
  );
  log(`(e) generated in ${generateS} s (${eventsInHour} events in the hour); aggregating…`);

  const analytics = ctx.app.get(AnalyticsService);
  const warm = await analytics.aggregateHour(HOUR);
  const times: number[] = [];
  for (let i = 0; i < s.runs; i += 1) {
    const t0 = process.hrtime.bigint();
    await analytics.aggregateHour(HOUR);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  const expected = expectedGlobal(s.messages);
  const got = {
    sent: warm.global.sent,
    delivered: warm.global.delivered,
    bouncedHard: warm.global.bouncedHard,
    bouncedSoft: warm.global.bouncedSoft,
    complained: warm.global.complained,
    opened: warm.global.opened,
    clicked: warm.global.clicked,
  };
  const correct = JSON.stringify(got) === JSON.stringify(expected) && warm.domains.length === 10;

  const rawTimes: number[] = [];
  for (let i = 0; i < s.runs; i += 1) {
    const client = await ctx.pool.connect();
    try {
      await client.query('BEGIN');
      for (const sql of AGGREGATION_SETTINGS) await client.query(sql);
      const t0 = process.hrtime.bigint();
      await client.query(GLOBAL_COUNTS_SQL, [HOUR, end]);
      await client.query(TOP_DOMAIN_COUNTS_SQL, [HOUR, end, 10]);
      rawTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  }

  const globalPlan = await explain(ctx.pool, GLOBAL_COUNTS_SQL, [HOUR, end]);
  const domainPlan = await explain(ctx.pool, TOP_DOMAIN_COUNTS_SQL, [HOUR, end, 10]);
  const usesIndex =
    !globalPlan.seqScanOnEvents &&
    !domainPlan.seqScanOnEvents &&
    globalPlan.eventScans.length > 0 &&
    domainPlan.eventScans.length > 0;
  const appMs = Math.round(median(times));
  return [
    {
      figure: `(e) aggregate an hour of ${s.messages.toLocaleString('en')} messages (median of ${s.runs})`,
      target: `<= ${s.targetMs} ms`,
      measured: `${appMs} ms${correct ? '' : ' (WRONG COUNTS)'}`,
      baseline: `${Math.round(median(rawTimes))} ms (the 2 SELECTs, one after the other)`,
      pass: correct && appMs <= s.targetMs,
      data: {
        runsMs: times.map(Math.round),
        rawSelectsMs: rawTimes.map(Math.round),
        eventsInHour,
        generateS,
        global: got,
        expected,
        domainRows: warm.domains.length,
      },
    },
    {
      figure: '(e) EXPLAIN: email_events read through an index',
      target: 'no Seq Scan',
      measured: `global ${globalPlan.ms} ms: ${globalPlan.eventScans.join(', ')}; domains ${domainPlan.ms} ms: ${domainPlan.eventScans.join(', ')}`,
      baseline: '-',
      pass: usesIndex,
      data: { global: globalPlan, domains: domainPlan },
    },
  ];
}
