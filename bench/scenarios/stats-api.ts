import { Agent, request } from 'undici';
import type { AnalyticsBenchContext, BenchFigure } from 'bench/scenarios/hourly-aggregation';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export const STATS_API_SETTINGS = {
  /** Days of hourly_stats ending with the last full hour. */
  days: num('BENCH_STATS_DAYS', 90),
  /** Domain rows per hour (besides the global row). */
  domains: num('BENCH_STATS_DOMAINS', 50),
  /** The window each request asks for. */
  windowDays: num('BENCH_STATS_WINDOW_DAYS', 30),
  requests: num('BENCH_STATS_REQUESTS', 200),
  warmup: num('BENCH_STATS_WARMUP', 20),
  targetP50Ms: 50,
};

/**
 * `days` × 24 hours of hourly_stats: a global row and `domains` domain rows per hour, with
 * deterministic counts, over all streams and again for each stream as the aggregation stores
 * them (README "Streams": transactional 70 %, broadcast 30 % here); rows that exist already
 * are kept.
 */
const SEED_SQL = `
  INSERT INTO hourly_stats (hour, stream, domain, sent, delivered, bounced_hard, bounced_soft,
                            complained, opened, clicked, delivery_rate, bounce_rate,
                            complaint_rate)
  SELECT h, st.stream, CASE WHEN d = 0 THEN NULL ELSE 'd' || d || '.bench' END,
         s, s * 95 / 100, s / 100, s * 2 / 100, s / 1000, s * 3 / 10, s / 20, 95, 3, 0.1
    FROM generate_series($1::timestamptz, $2::timestamptz, interval '1 hour') h
   CROSS JOIN generate_series(0, $3::int) d
   CROSS JOIN (VALUES (NULL::varchar, 100), ('transactional', 70), ('broadcast', 30))
              st(stream, pct)
   CROSS JOIN LATERAL (SELECT (CASE WHEN d = 0 THEN 100 * $3::int ELSE 50 + 10 * d
                                    + extract(hour FROM h)::int END) * st.pct / 100 AS s) c
  ON CONFLICT (hour, stream, domain) DO NOTHING`;

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;

async function measure(
  ctx: AnalyticsBenchContext,
  agent: Agent,
  query: string,
  warmup: number,
  n: number,
): Promise<{ p50: number; p90: number; p99: number; mean: number; seriesPoints: number }> {
  let seriesPoints = 0;
  const once = async (): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const res = await request(`${ctx.baseUrl}/api/v1/stats?${query}`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${ctx.apiKey}` },
    });
    const body = (await res.body.json()) as { series?: unknown[] };
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.statusCode !== 200) {
      throw new Error(`GET /api/v1/stats?${query} → ${res.statusCode}: ${JSON.stringify(body)}`);
    }
    seriesPoints = body.series?.length ?? 0;
    return ms;
  };
  for (let i = 0; i < warmup; i += 1) await once();
  const times: number[] = [];
  for (let i = 0; i < n; i += 1) times.push(await once());
  times.sort((a, b) => a - b);
  return {
    p50: round(percentile(times, 50)),
    p90: round(percentile(times, 90)),
    p99: round(percentile(times, 99)),
    mean: round(times.reduce((a, b) => a + b, 0) / times.length),
    seriesPoints,
  };
}

/**
 * `GET /api/v1/stats` for a 30-day window over 90 days × 50 domains of hourly_stats:
 * sequential requests on one keep-alive connection after a warm-up; p50 is the target. The
 * live hour is whatever email_events holds for the current hour (nothing in a fresh
 * database). Also measured, for information: the same with granularity=day and with a
 * domain filter.
 */
export async function run(ctx: AnalyticsBenchContext): Promise<BenchFigure[]> {
  const s = STATS_API_SETTINGS;
  const log = ctx.log ?? (() => undefined);
  const current = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const first = new Date(current - s.days * DAY_MS);
  const last = new Date(current - HOUR_MS);

  log(
    `(f) seeding ${s.days} days × ${s.domains + 1} rows × 3 (all streams, each stream) of hourly_stats…`,
  );
  await ctx.pool.query(SEED_SQL, [first, last, s.domains]);
  await ctx.pool.query('VACUUM ANALYZE hourly_stats');
  const {
    rows: [{ n: rows }],
  } = await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM hourly_stats`);

  const from = new Date(current - s.windowDays * DAY_MS).toISOString();
  const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
  try {
    log(`(f) GET /api/v1/stats over ${s.windowDays} days, ${s.requests} requests…`);
    const hourly = await measure(ctx, agent, `from=${from}`, s.warmup, s.requests);
    const daily = await measure(ctx, agent, `from=${from}&granularity=day`, s.warmup, s.requests);
    const domain = await measure(ctx, agent, `from=${from}&domain=d7.bench`, s.warmup, s.requests);
    const stream = await measure(ctx, agent, `from=${from}&stream=broadcast`, s.warmup, s.requests);
    const line = (r: typeof hourly) => `p50 ${r.p50} ms (p90 ${r.p90}, p99 ${r.p99})`;
    return [
      {
        figure: `(f) GET /api/v1/stats, ${s.windowDays} d window, hourly, over ${s.days} d × ${s.domains} domains`,
        target: `p50 <= ${s.targetP50Ms} ms`,
        measured: line(hourly),
        baseline: '-',
        pass: hourly.p50 <= s.targetP50Ms,
        data: { hourly, hourlyStatsRows: rows, requests: s.requests },
      },
      {
        figure: `(f) the same, granularity=day`,
        target: '-',
        measured: line(daily),
        baseline: '-',
        pass: null,
        data: { daily },
      },
      {
        figure: `(f) the same, domain=d7.bench`,
        target: '-',
        measured: line(domain),
        baseline: '-',
        pass: null,
        data: { domain },
      },
      {
        figure: `(f) the same, stream=broadcast`,
        target: '-',
        measured: line(stream),
        baseline: '-',
        pass: null,
        data: { stream },
      },
    ];
  } finally {
    await agent.close();
  }
}
