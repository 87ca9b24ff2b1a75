/**
 * The deliverability thresholds (README "Alerts") as pure rules.
 * Rates are percentages of the hour's sent messages, except the delivery rate, which counts
 * only messages whose outcome is known: webhook lag must not look like a delivery collapse.
 */

import type { Stream } from 'src/common/streams';

export interface HourCounts {
  domain: string | null;
  /** Null or absent: all streams (README "Streams"). */
  stream?: Stream | null;
  sent: number;
  delivered: number;
  bounced_hard: number;
  bounced_soft: number;
  complained: number;
}

export type AnomalySeverity = 'warning' | 'critical';

export interface DetectedAnomaly {
  type: 'bounce_rate' | 'complaint_rate' | 'delivery_rate' | 'soft_bounce_rate';
  severity: AnomalySeverity;
  metric: string;
  value: number;
  threshold: number;
  domain: string | null;
  /** Null: over all streams; else the one stream whose numbers crossed the threshold. */
  stream: Stream | null;
  message: string;
}

interface Rule {
  type: DetectedAnomaly['type'];
  label: string;
  /** For "below" rules a lower value is worse. */
  direction: 'above' | 'below';
  warning: number;
  critical: number;
  value(c: HourCounts): number | null;
}

const pct = (n: number, d: number): number => (d > 0 ? Math.round((n / d) * 10000) / 100 : 0);
const pct4 = (n: number, d: number): number =>
  d > 0 ? Math.round((n / d) * 1_000_000) / 10_000 : 0;

export const ANOMALY_RULES: readonly Rule[] = [
  {
    type: 'bounce_rate',
    label: 'Bounce rate',
    direction: 'above',
    warning: 5,
    critical: 10,
    value: (c) => pct(c.bounced_hard + c.bounced_soft, c.sent),
  },
  {
    type: 'complaint_rate',
    label: 'Complaint rate',
    direction: 'above',
    warning: 0.05,
    critical: 0.1,
    value: (c) => pct4(c.complained, c.sent),
  },
  {
    type: 'delivery_rate',
    label: 'Delivery rate',
    direction: 'below',
    warning: 95,
    critical: 90,
    // Only outcomes we know: messages still waiting for a webhook are not failures.
    value: (c) => {
      const known = c.delivered + c.bounced_hard + c.bounced_soft;
      return known > 0 ? pct(c.delivered, known) : null;
    },
  },
  {
    type: 'soft_bounce_rate',
    label: 'Soft-bounce rate',
    direction: 'above',
    warning: 3,
    critical: 7,
    value: (c) => pct(c.bounced_soft, c.sent),
  },
];

/**
 * The anomalies of one hour (globally, or for one domain). Nothing below `minVolume` sent;
 * the delivery rule also needs `minVolume` known outcomes.
 */
export function detectAnomalies(c: HourCounts, minVolume: number): DetectedAnomaly[] {
  if (c.sent < minVolume || c.sent === 0) return [];
  const known = c.delivered + c.bounced_hard + c.bounced_soft;
  const found: DetectedAnomaly[] = [];
  for (const rule of ANOMALY_RULES) {
    if (rule.type === 'delivery_rate' && known < Math.max(1, minVolume)) continue;
    const value = rule.value(c);
    if (value === null) continue;
    const worse = (limit: number): boolean =>
      rule.direction === 'above' ? value >= limit : value < limit;
    const severity: AnomalySeverity | null = worse(rule.critical)
      ? 'critical'
      : worse(rule.warning)
        ? 'warning'
        : null;
    if (!severity) continue;
    const threshold = severity === 'critical' ? rule.critical : rule.warning;
    const stream = c.stream ?? null;
    const scope = c.domain
      ? ` for ${c.domain}${stream ? ` (${stream} stream)` : ''}`
      : stream
        ? ` for the ${stream} stream`
        : '';
    found.push({
      type: rule.type,
      severity,
      metric: rule.type,
      value,
      threshold,
      domain: c.domain,
      stream,
      message: `${rule.label}${scope} is ${value} % (${severity} ${rule.direction === 'above' ? 'at' : 'below'} ${threshold} %)`,
    });
  }
  return found;
}

const SEVERITY_RANK: Record<AnomalySeverity, number> = { warning: 1, critical: 2 };

/**
 * The anomalies of an hour over all streams, plus those of each stream that the all-streams
 * numbers do not already show as badly (README "Alerts"): a broadcast spike diluted by
 * transactional volume, or the reverse, is still found and named with its stream, while an
 * hour with one busy stream does not report the same problem twice.
 */
export function detectStreamAnomalies(
  overall: HourCounts[],
  perStream: HourCounts[],
  minVolume: number,
): DetectedAnomaly[] {
  const found = overall.flatMap((c) => detectAnomalies(c, minVolume));
  const shown = (a: DetectedAnomaly): boolean =>
    found.some(
      (o) =>
        o.stream === null &&
        o.type === a.type &&
        o.domain === a.domain &&
        SEVERITY_RANK[o.severity] >= SEVERITY_RANK[a.severity],
    );
  const extra = perStream.flatMap((c) => detectAnomalies(c, minVolume)).filter((a) => !shown(a));
  return [...found, ...extra];
}

/** The original system's rule-based advice, one list per anomaly type. */
const RECOMMENDATIONS: Record<DetectedAnomaly['type'], string[]> = {
  bounce_rate: [
    'Check the list source of recent campaigns; stop sending to purchased or scraped lists',
    'Validate addresses at sign-up (double opt-in) and remove hard-bounced addresses',
    'Look at the top bounce errors for a single domain or a DNS problem on our side',
  ],
  complaint_rate: [
    'Pause the campaign with the most complaints and review how its recipients opted in',
    'Make the unsubscribe link prominent and honour List-Unsubscribe quickly',
    'Reduce frequency to less engaged recipients',
  ],
  delivery_rate: [
    'Check the top errors: blocks and policy rejects point at reputation or authentication',
    'Verify SPF, DKIM and DMARC for the sending domain in Postal',
    'Slow down to the affected domains while the cause is found',
  ],
  soft_bounce_rate: [
    'Receivers are deferring or rejecting temporarily: slow down to the affected domains',
    'Look for throttling (421/4.7.x) and mailbox-full patterns in the top errors',
    'Warm up new IPs or domains gradually',
  ],
};

export function recommendationsFor(anomalies: DetectedAnomaly[]): string[] {
  const seen = new Set<string>();
  for (const a of anomalies) for (const r of RECOMMENDATIONS[a.type]) seen.add(r);
  return [...seen];
}
