/**
 * Counters and rates of one hourly_stats row, as pure values: no I/O, so the
 * aggregation, the stats API and their tests share one definition.
 */

import type { Stream } from 'src/common/streams';

/** The seven counters, each a number of distinct messages (not of events). */
export interface HourlyCounts {
  sent: number;
  delivered: number;
  bouncedHard: number;
  bouncedSoft: number;
  complained: number;
  opened: number;
  clicked: number;
}

/** Percentages (0–100), as stored in hourly_stats. */
export interface HourlyRates {
  deliveryRate: number;
  bounceRate: number;
  complaintRate: number;
}

/** One hourly_stats row: `domain` null = all domains, `stream` null = all streams. */
export interface HourlyRow extends HourlyCounts, HourlyRates {
  hour: Date;
  stream: Stream | null;
  domain: string | null;
}

/** Counts of one hour (and stream, and domain) before rates are derived. */
export interface HourlyCountsAt extends HourlyCounts {
  hour: Date;
  stream: Stream | null;
  domain: string | null;
}

export const COUNTER_KEYS: ReadonlyArray<keyof HourlyCounts> = [
  'sent',
  'delivered',
  'bouncedHard',
  'bouncedSoft',
  'complained',
  'opened',
  'clicked',
];

/** The ceiling of delivery_rate and bounce_rate: a percentage. */
export const MAX_PERCENT = 100;
/**
 * complaint_rate is numeric(5,4): it holds at most 9.9999. A complaint percentage above that
 * (over 1 complaint in 10 messages, far past the 0.1 % critical threshold) is stored clamped
 * to 9.9999 rather than failing the whole hour; the raw counts stay exact in the row.
 */
export const MAX_COMPLAINT_RATE = 9.9999;

export function zeroCounts(): HourlyCounts {
  return {
    sent: 0,
    delivered: 0,
    bouncedHard: 0,
    bouncedSoft: 0,
    complained: 0,
    opened: 0,
    clicked: 0,
  };
}

/** Adds `b` into `a` (mutates and returns `a`). */
export function addCounts(a: HourlyCounts, b: HourlyCounts): HourlyCounts {
  for (const k of COUNTER_KEYS) a[k] += b[k];
  return a;
}

/**
 * 100 × part / whole rounded to `decimals`, 0 when `whole` is 0, and at most `max`: a window
 * can hold deliveries of messages sent before it, so part may exceed whole.
 */
export function percent(part: number, whole: number, decimals: number, max = MAX_PERCENT): number {
  if (whole <= 0 || part <= 0) return 0;
  const factor = 10 ** decimals;
  return Math.min(Math.round(((100 * part) / whole) * factor) / factor, max);
}

/** The three stored rates, each over `sent`, rounded to their column's scale. */
export function hourlyRates(c: HourlyCounts): HourlyRates {
  return {
    deliveryRate: percent(c.delivered, c.sent, 2),
    bounceRate: percent(c.bouncedHard + c.bouncedSoft, c.sent, 2),
    complaintRate: percent(c.complained, c.sent, 4, MAX_COMPLAINT_RATE),
  };
}

export function withRates(c: HourlyCountsAt): HourlyRow {
  return { ...c, ...hourlyRates(c) };
}
