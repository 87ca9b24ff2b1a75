import { ValidationFailedError } from 'src/common/errors/app-error';
import type { StatsGranularity } from 'src/modules/analytics/dto/stats-query.dto';
import type {
  StatsCountsDto,
  StatsDomainDto,
  StatsRatesDto,
  StatsSeriesPointDto,
} from 'src/modules/analytics/dto/stats-response.dto';
import {
  addCounts,
  HourlyCounts,
  HourlyCountsAt,
  percent,
  zeroCounts,
} from 'src/modules/analytics/hourly-counts';

/**
 * The pure part of `GET /api/v1/stats`: the window, the buckets, and merging stored sums
 * with the hours computed live. No I/O.
 */

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
export const DEFAULT_WINDOW_MS = 24 * HOUR_MS;
export const MAX_WINDOW_DAYS = 400;
export const TOP_DOMAINS_IN_RESPONSE = 20;

export interface StatsWindow {
  /** Inclusive, on an hour. */
  from: Date;
  /** Exclusive, on an hour. */
  to: Date;
  unit: StatsGranularity;
}

const floorTo = (t: number, ms: number): number => Math.floor(t / ms) * ms;
const ceilTo = (t: number, ms: number): number => Math.ceil(t / ms) * ms;

/**
 * Resolves the query's bounds: `from` rounded down and `to` rounded up to whole hours (the
 * stats are hourly). Default: the 24 hours ending with the current one. `from` must come
 * before `to`, at most 400 days apart.
 */
export function resolveStatsWindow(
  q: { from?: string; to?: string; granularity?: StatsGranularity },
  now: Date,
): StatsWindow {
  const rawTo = q.to !== undefined ? Date.parse(q.to) : ceilTo(now.getTime() + 1, HOUR_MS);
  const rawFrom = q.from !== undefined ? Date.parse(q.from) : rawTo - DEFAULT_WINDOW_MS;
  if (rawFrom >= rawTo) {
    throw new ValidationFailedError('from must be before to', [
      { field: q.from !== undefined ? 'from' : 'to', message: 'from must be before to' },
    ]);
  }
  if (rawTo - rawFrom > MAX_WINDOW_DAYS * DAY_MS) {
    const message = `the window from from to to must be at most ${MAX_WINDOW_DAYS} days`;
    throw new ValidationFailedError(message, [{ field: 'to', message }]);
  }
  return {
    from: new Date(floorTo(rawFrom, HOUR_MS)),
    to: new Date(ceilTo(rawTo, HOUR_MS)),
    unit: q.granularity ?? 'hour',
  };
}

/** The start of the hour or UTC day holding `at`. */
export function bucketStart(at: Date, unit: StatsGranularity): Date {
  return new Date(floorTo(at.getTime(), unit === 'hour' ? HOUR_MS : DAY_MS));
}

/** Every bucket start of the window, oldest first. */
export function bucketStarts(w: StatsWindow): Date[] {
  const step = w.unit === 'hour' ? HOUR_MS : DAY_MS;
  const out: Date[] = [];
  for (let t = bucketStart(w.from, w.unit).getTime(); t < w.to.getTime(); t += step) {
    out.push(new Date(t));
  }
  return out;
}

export function countsDto(c: HourlyCounts): StatsCountsDto {
  return {
    sent: c.sent,
    delivered: c.delivered,
    bounced: c.bouncedHard + c.bouncedSoft,
    bounced_hard: c.bouncedHard,
    bounced_soft: c.bouncedSoft,
    complained: c.complained,
    opened: c.opened,
    clicked: c.clicked,
  };
}

/**
 * One point per bucket of the window (zeros where nothing happened): stored sums per bucket
 * plus the live rows, each added to the bucket of its hour.
 */
export function buildSeries(
  w: StatsWindow,
  stored: Array<HourlyCounts & { at: Date }>,
  live: HourlyCountsAt[],
): Array<{ at: Date; counts: HourlyCounts }> {
  const byStart = new Map<number, HourlyCounts>(
    bucketStarts(w).map((at) => [at.getTime(), zeroCounts()]),
  );
  const add = (at: Date, c: HourlyCounts) => {
    const bucket = byStart.get(bucketStart(at, w.unit).getTime());
    if (bucket) addCounts(bucket, c);
  };
  for (const s of stored) add(s.at, s);
  for (const r of live) add(r.hour, r);
  return [...byStart].map(([t, counts]) => ({ at: new Date(t), counts }));
}

export function seriesDto(
  series: Array<{ at: Date; counts: HourlyCounts }>,
): StatsSeriesPointDto[] {
  return series.map((p) => ({ at: p.at.toISOString(), ...countsDto(p.counts) }));
}

export function sumCounts(items: HourlyCounts[]): HourlyCounts {
  return items.reduce((acc, c) => addCounts(acc, c), zeroCounts());
}

/** Rates of the response: over sent, and opens/clicks over delivered; 2 decimals. */
export function ratesDto(c: HourlyCounts): StatsRatesDto {
  return {
    delivery_rate: percent(c.delivered, c.sent, 2),
    bounce_rate: percent(c.bouncedHard + c.bouncedSoft, c.sent, 2),
    complaint_rate: percent(c.complained, c.sent, 2),
    open_rate: percent(c.opened, c.delivered, 2),
    click_rate: percent(c.clicked, c.delivered, 2),
  };
}

export function domainDto(domain: string, c: HourlyCounts): StatsDomainDto {
  const bounced = c.bouncedHard + c.bouncedSoft;
  return {
    domain,
    sent: c.sent,
    delivered: c.delivered,
    bounced,
    complained: c.complained,
    bounce_rate: percent(bounced, c.sent, 2),
    complaint_rate: percent(c.complained, c.sent, 2),
  };
}

/**
 * The `limit` busiest domains by sent (then by name): stored per-domain sums plus the live
 * domain rows. `stored` must hold the stored top `limit` and every domain of `live`.
 */
export function mergeDomains(
  stored: Array<HourlyCounts & { domain: string }>,
  live: HourlyCountsAt[],
  limit: number,
): StatsDomainDto[] {
  const byDomain = new Map<string, HourlyCounts>();
  const add = (domain: string, c: HourlyCounts) => {
    const acc = byDomain.get(domain) ?? zeroCounts();
    byDomain.set(domain, addCounts(acc, c));
  };
  for (const s of stored) add(s.domain, s);
  for (const r of live) if (r.domain !== null) add(r.domain, r);
  return [...byDomain]
    .sort(([da, a], [db, b]) => b.sent - a.sent || (da < db ? -1 : da > db ? 1 : 0))
    .slice(0, limit)
    .map(([domain, c]) => domainDto(domain, c));
}
