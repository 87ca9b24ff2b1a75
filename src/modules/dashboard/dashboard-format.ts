import { ANOMALY_RULES, type HourCounts } from 'src/modules/diagnostics/anomaly-rules';
import { EMAIL_EVENT_TYPES, EMAIL_STATUSES } from 'src/modules/emails/dto/email-states';

/**
 * Pure formatting for the dashboard views: every number, time and colour class is decided
 * here, so the templates only print strings.
 */

export type Level = 'ok' | 'warning' | 'critical' | 'neutral';

const COUNT = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return COUNT.format(n);
}

/** `95.83 %`; trailing zeros kept so a column of rates lines up. */
export function formatPercent(value: number, decimals = 2): string {
  return `${value.toFixed(decimals)} %`;
}

/** `2026-11-28 06:05:09` (UTC), or an em dash for no time. */
export function formatTime(value: string | Date | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const d = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(d.getTime())) return '—';
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** The thresholds of one anomaly rule and where a value stands against them. */
export interface RateStanding {
  level: Level;
  /** e.g. "warning ≥ 5 % · critical ≥ 10 %". */
  thresholds: string;
}

export type RuleType = (typeof ANOMALY_RULES)[number]['type'];

function ruleOf(type: RuleType): (typeof ANOMALY_RULES)[number] {
  const rule = ANOMALY_RULES.find((r) => r.type === type);
  if (!rule) throw new Error(`no anomaly rule ${type}`);
  return rule;
}

/** Where `value` stands against the anomaly detector's own thresholds (README "Alerts"). */
export function standing(type: RuleType, value: number | null): RateStanding {
  const rule = ruleOf(type);
  const cmp = rule.direction === 'above' ? '≥' : '<';
  const thresholds = `warning ${cmp} ${rule.warning} % · critical ${cmp} ${rule.critical} %`;
  if (value === null) return { level: 'neutral', thresholds };
  const worse = (limit: number): boolean =>
    rule.direction === 'above' ? value >= limit : value < limit;
  const level: Level = worse(rule.critical) ? 'critical' : worse(rule.warning) ? 'warning' : 'ok';
  return { level, thresholds };
}

/** The rule's value for some counts (the delivery rate counts known outcomes only). */
export function ruleValue(type: RuleType, counts: HourCounts): number | null {
  return counts.sent > 0 ? ruleOf(type).value(counts) : null;
}

/**
 * Message statuses in the order the filter offers them, with the colour class each one
 * uses everywhere (badges, chart, timeline).
 */
export const MESSAGE_STATUSES = EMAIL_STATUSES;

/** Event types of the timeline (email_events.event_type). */
export const EVENT_TYPES = EMAIL_EVENT_TYPES;

const KNOWN_STATES = new Set<string>([...MESSAGE_STATUSES, ...EVENT_TYPES]);

/** A CSS class for a status or event type; anything unknown gets the neutral one. */
export function stateClass(state: string): string {
  return KNOWN_STATES.has(state) ? `st-${state.replace(/_/g, '-')}` : 'st-other';
}

/** `retry_scheduled` → `retry scheduled`. */
export function stateLabel(state: string): string {
  return state.replace(/_/g, ' ');
}

/** Severity of a report as a level. */
export function severityLevel(severity: string): Level {
  return severity === 'critical' ? 'critical' : severity === 'warning' ? 'warning' : 'neutral';
}

/** Pretty JSON for details blocks (escaped by the view). */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

/** A short one-line rendering of an event's details: `smtp_code 550 · source sandbox`. */
export function detailsLine(details: Record<string, unknown> | null | undefined): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(
      ([k, v]) =>
        `${k.replace(/_/g, ' ')}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    )
    .join(' · ');
}
