import { Injectable } from '@nestjs/common';
import type { Stream } from 'src/common/streams';
import { TOP_DOMAINS_PER_HOUR, startOfHour } from 'src/modules/analytics/analytics.service';
import type { StatsQueryDto } from 'src/modules/analytics/dto/stats-query.dto';
import type {
  StatsByStreamDto,
  StatsResponseDto,
  StatsStreamDto,
} from 'src/modules/analytics/dto/stats-response.dto';
import { COUNTER_KEYS, type HourlyCountsAt } from 'src/modules/analytics/hourly-counts';
import {
  BucketSums,
  DomainTotals,
  HourlyStatsRepository,
  StoredWindow,
} from 'src/modules/analytics/hourly-stats.repository';
import {
  buildSeries,
  countsDto,
  domainDto,
  mergeDomains,
  ratesDto,
  resolveStatsWindow,
  seriesDto,
  StatsWindow,
  sumCounts,
  TOP_DOMAINS_IN_RESPONSE,
} from 'src/modules/analytics/stats-summary';

const HOUR_MS = 3600_000;
export const TOP_ERRORS_IN_RESPONSE = 10;

/** Where the numbers of one request come from, before they are summarised. */
interface Sources {
  /**
   * Stored sums per bucket (global rows, or the filtered domain's rows), every stream level:
   * stream null = all streams.
   */
  storedBuckets: BucketSums[];
  /** Stored sums per domain (every domain of the window), of the requested stream level. */
  storedDomains: DomainTotals[];
  /** Rows computed from email_events, every stream level: domain null = the series level. */
  computed: HourlyCountsAt[];
}

/**
 * `GET /api/v1/stats` (README "Management"): past hours from hourly_stats, the current hour (and
 * the previous one until the hourly job has stored it) computed live with the aggregation SQL.
 */
@Injectable()
export class StatsService {
  constructor(private readonly hourly: HourlyStatsRepository) {}

  async getStats(q: StatsQueryDto, now = new Date()): Promise<StatsResponseDto> {
    const w = resolveStatsWindow(q, now);
    const domain = q.domain ?? null;
    const campaignId = q.campaign_id ?? null;
    const stream = q.stream ?? null;
    const [sources, topErrors] = await Promise.all([
      campaignId !== null
        ? this.fromCampaignEvents(w, campaignId, domain)
        : this.fromHourlyStats(w, domain, stream, now),
      this.hourly.topErrors(w.from, w.to, { domain, campaignId, stream }, TOP_ERRORS_IN_RESPONSE),
    ]);

    // The series level of one stream (or of all streams: stream null).
    const seriesOf = (level: Stream | null) =>
      buildSeries(
        w,
        sources.storedBuckets.filter((b) => b.stream === level),
        sources.computed.filter((r) => r.domain === null && r.stream === level),
      );
    const series = seriesOf(stream);
    const totals = sumCounts(series.map((p) => p.counts));
    const streamDto = (level: Stream): StatsStreamDto => {
      const c = sumCounts(seriesOf(level).map((p) => p.counts));
      return { totals: countsDto(c), rates: ratesDto(c) };
    };
    const byStream: StatsByStreamDto = {
      transactional: streamDto('transactional'),
      broadcast: streamDto('broadcast'),
    };
    const byDomain =
      domain !== null
        ? COUNTER_KEYS.some((k) => totals[k] > 0)
          ? [domainDto(domain, totals)]
          : []
        : mergeDomains(
            sources.storedDomains,
            sources.computed.filter((r) => r.domain !== null && r.stream === stream),
            TOP_DOMAINS_IN_RESPONSE,
          );
    return {
      totals: countsDto(totals),
      rates: ratesDto(totals),
      by_stream: byStream,
      series: seriesDto(series),
      by_domain: byDomain,
      top_errors: topErrors.map((e) => ({
        smtp_code: e.smtpCode,
        message: e.message,
        count: e.count,
      })),
    };
  }

  /**
   * hourly_stats has global rows and the top 10 domains of each hour, each for all streams and
   * per stream (hours stored before streams were counted apart have all-streams rows only).
   * The current hour is
   * computed live (globally plus its top 10 domains, or only the filtered domain), and so is
   * the previous one until the hourly job (minute 5) has stored it. The stored window skips
   * both, so the four reads run at once and never count an hour twice.
   */
  private async fromHourlyStats(
    w: StatsWindow,
    domain: string | null,
    stream: Stream | null,
    now: Date,
  ): Promise<Sources> {
    const current = startOfHour(now);
    const previous = new Date(current.getTime() - HOUR_MS);
    const stored: StoredWindow = { from: w.from, to: w.to, skipHours: [previous, current] };
    const inWindow = (h: Date) => h >= w.from && h < w.to;
    const [recent, storedBuckets, storedDomains] = await Promise.all([
      Promise.all([
        inWindow(previous) ? this.previousHourRows(previous, domain) : [],
        inWindow(current) ? this.liveRows(current, domain) : [],
      ]),
      this.hourly.sumsPerBucket(stored, w.unit, domain),
      domain === null ? this.hourly.domainSums(stored, stream) : Promise.resolve([]),
    ]);
    return { storedBuckets, storedDomains, computed: recent.flat() };
  }

  /** The previous hour's stored rows, or its live counts while it is not stored yet. */
  private async previousHourRows(hour: Date, domain: string | null): Promise<HourlyCountsAt[]> {
    const rows = await this.hourly.hourRows(hour);
    if (!rows.some((r) => r.domain === null && r.stream === null)) {
      return this.liveRows(hour, domain);
    }
    if (domain === null) return rows;
    return rows.filter((r) => r.domain === domain).map((r) => ({ ...r, domain: null }));
  }

  /**
   * An hour counted from email_events, not stored, every stream level. With a domain filter
   * its rows are the series level (domain null); without, the global rows plus the top 10
   * domains (of all streams, and of each stream).
   */
  private async liveRows(hour: Date, domain: string | null): Promise<HourlyCountsAt[]> {
    const end = new Date(hour.getTime() + HOUR_MS);
    if (domain !== null) {
      const rows = await this.hourly.countWindow(hour, end, { domain });
      return rows.map((r) => ({ ...r, domain: null }));
    }
    const [global, domains] = await Promise.all([
      this.hourly.countWindow(hour, end, { global: true }),
      this.hourly.countWindow(hour, end, { topDomains: TOP_DOMAINS_PER_HOUR }),
    ]);
    return [...global, ...domains];
  }

  /**
   * hourly_stats has no campaign dimension: a campaign's numbers are computed from
   * email_events with the same aggregation SQL, restricted to its messages (found through
   * idx_logs_campaign_id), per hour and per hour and domain. Fine for one campaign's volume.
   */
  private async fromCampaignEvents(
    w: StatsWindow,
    campaignId: string,
    domain: string | null,
  ): Promise<Sources> {
    const computed = await this.hourly.campaignHourlyCounts(w.from, w.to, campaignId, domain);
    return { storedBuckets: [], storedDomains: [], computed };
  }
}
