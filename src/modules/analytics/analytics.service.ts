import { Injectable, Logger } from '@nestjs/common';
import { STREAMS, type Stream } from 'src/common/streams';
import { AppConfig } from 'src/config/app-config';
import { AnalyticsMaintenanceRepository } from 'src/modules/analytics/analytics-maintenance.repository';
import { HourlyRow, withRates } from 'src/modules/analytics/hourly-counts';
import { ErrorCount, HourlyStatsRepository } from 'src/modules/analytics/hourly-stats.repository';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

/** The hour's top recipient domains get rows of their own. */
export const TOP_DOMAINS_PER_HOUR = 10;
/** Campaigns with a message accepted this recently have their campaign_stats refreshed. */
export const CAMPAIGN_ACTIVITY_DAYS = 7;
/** hourly_stats are kept as long as the stats API can look back (its longest window). */
export const HOURLY_STATS_RETENTION_DAYS = 400;

/** One stream's rows of an hour (README "Streams"). */
export interface StreamHour {
  stream: Stream;
  /** Null: not stored (an hour aggregated before streams were counted apart). */
  global: HourlyRow | null;
  /** The stream's own top domains, busiest first (by sent). */
  domains: HourlyRow[];
}

export interface HourlyAggregate {
  /** All streams. */
  global: HourlyRow;
  /** All streams; busiest first (by sent). */
  domains: HourlyRow[];
  /** Each stream's, in STREAMS order. */
  streams: StreamHour[];
}

/** An hour as stored: `global` is null until the hourly job has run for it. */
export interface HourSnapshot {
  /** All streams. */
  global: HourlyRow | null;
  /** All streams; busiest first (by sent). */
  domains: HourlyRow[];
  /** Each stream's, in STREAMS order. */
  streams: StreamHour[];
}

/** Splits an hour's rows into its levels: all streams, and each stream. */
function levelsOf(rows: HourlyRow[]): HourSnapshot {
  const level = (stream: Stream | null) => ({
    global: rows.find((r) => r.stream === stream && r.domain === null) ?? null,
    domains: rows
      .filter((r) => r.stream === stream && r.domain !== null)
      .sort((a, b) => b.sent - a.sent || (a.domain! < b.domain! ? -1 : 1)),
  });
  return { ...level(null), streams: STREAMS.map((stream) => ({ stream, ...level(stream) })) };
}

export type { ErrorCount };

export interface PruneCounts {
  idempotencyKeys: number;
  webhookEvents: number;
  emailEvents: number;
  hourlyStats: number;
  expiredSuppressions: number;
}

export interface DailyResult {
  campaigns: number;
  pruned: PruneCounts;
}

/** The start of the UTC hour holding `at`. */
export function startOfHour(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** The last full hour before `now`: what the hourly job aggregates by default. */
export function previousHour(now: Date): Date {
  return new Date(startOfHour(now).getTime() - HOUR_MS);
}

/** Hourly statistics and the daily maintenance (docs/ARCHITECTURE.md "Queues and jobs"). */
@Injectable()
export class AnalyticsService {
  private readonly logger = new Logger(AnalyticsService.name);

  constructor(
    private readonly hourly: HourlyStatsRepository,
    private readonly maintenance: AnalyticsMaintenanceRepository,
    private readonly config: AppConfig,
  ) {}

  /**
   * Aggregates the hour starting at `hourStart` (rounded down to the hour) from email_events,
   * globally and for its top 10 recipient domains, over all streams and per stream, and
   * upserts it into hourly_stats: running an hour again replaces its rows.
   */
  async aggregateHour(hourStart: Date): Promise<HourlyAggregate> {
    const hour = startOfHour(hourStart);
    const started = Date.now();
    const s = levelsOf(await this.hourly.aggregateAndStoreHour(hour, TOP_DOMAINS_PER_HOUR));
    const global = s.global!;
    this.logger.log(
      `hourly stats ${hour.toISOString()}: sent ${global.sent} (${s.streams.map((x) => `${x.stream} ${x.global?.sent ?? 0}`).join(', ')}), ${s.domains.length} domain row(s) in ${Date.now() - started} ms`,
    );
    return { global, domains: s.domains, streams: s.streams };
  }

  /** The stored rows of the hour starting at `hourStart` (rounded down), for other modules. */
  async hourSnapshot(hourStart: Date): Promise<HourSnapshot> {
    return levelsOf((await this.hourly.hourRows(startOfHour(hourStart))).map(withRates));
  }

  /**
   * The most frequent errors of messages accepted in [from, to), by SMTP code and normalised
   * text, recipient addresses redacted (safe to show or to send to a model).
   */
  topErrors(from: Date, to: Date, limit: number): Promise<ErrorCount[]> {
    return this.hourly.topErrors(from, to, { domain: null, campaignId: null }, limit);
  }

  /** Recomputes campaign_stats for the campaigns active in the last 7 days. */
  refreshCampaignStats(now = new Date()): Promise<number> {
    return this.maintenance.refreshCampaignStats(
      new Date(now.getTime() - CAMPAIGN_ACTIVITY_DAYS * DAY_MS),
    );
  }

  /**
   * Deletes what is past retention, in batches: expired idempotency keys, webhook events and
   * email events older than their configured days, hourly stats older than 400 days, and
   * suppressions past their expiry.
   */
  async prune(now = new Date()): Promise<PruneCounts> {
    const daysAgo = (days: number) => new Date(now.getTime() - days * DAY_MS);
    const { eventsDays, webhookEventsDays } = this.config.retention;
    return {
      idempotencyKeys: await this.maintenance.pruneExpiredIdempotencyKeys(),
      webhookEvents: await this.maintenance.pruneWebhookEvents(daysAgo(webhookEventsDays)),
      emailEvents: await this.maintenance.pruneEmailEvents(daysAgo(eventsDays)),
      hourlyStats: await this.maintenance.pruneHourlyStats(daysAgo(HOURLY_STATS_RETENTION_DAYS)),
      expiredSuppressions: await this.maintenance.pruneExpiredSuppressions(),
    };
  }

  /** The daily job: refresh campaign_stats, then prune. */
  async runDaily(now = new Date()): Promise<DailyResult> {
    const campaigns = await this.refreshCampaignStats(now);
    const pruned = await this.prune(now);
    this.logger.log(
      `daily stats: ${campaigns} campaign(s) refreshed; pruned ${JSON.stringify(pruned)}`,
    );
    return { campaigns, pruned };
  }
}
