import { createHash } from 'node:crypto';
import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { waitAtMost } from 'src/common/async/timeout';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import { RedisService } from 'src/infra/redis/redis.service';
import { SlackNotifier } from 'src/modules/notifications/slack.notifier';
import { TelegramNotifier } from 'src/modules/notifications/telegram.notifier';

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface Alert {
  /**
   * Dedupe key: the same key is not sent again within 30 minutes (across all processes:
   * Redis SET NX EX via RedisService.key('alert-sent', key)).
   */
  key: string;
  severity: AlertSeverity;
  /** One line. */
  title: string;
  /** Body; may contain user/provider text (the notifiers escape it). */
  text: string;
  fields?: Record<string, string | number>;
  /** E.g. a dashboard link. */
  url?: string;
}

export type AlertChannel = 'telegram' | 'slack';

export interface AlertOutcome {
  deduped: boolean;
  channels: AlertChannel[];
}

/** The same alert is not repeated within 30 minutes (README "Alerts"). */
export const ALERT_DEDUPE_TTL_S = 30 * 60;
/** Shutdown waits this long for in-flight sends (each channel gives up after 10 s anyway). */
const SHUTDOWN_WAIT_MS = 11_000;
/** Longer keys are hashed so a Redis key stays short whatever the caller passes. */
const MAX_RAW_KEY_LENGTH = 200;
/** How much of the body goes into the log line (the log is a channel of its own). */
const LOGGED_TEXT_MAX = 2000;
const SEVERITIES: readonly AlertSeverity[] = ['info', 'warning', 'critical'];

interface Notifier {
  readonly configured: boolean;
  send(alert: Alert): Promise<void>;
}

/**
 * Operator alerts (README "Alerts"): Telegram and Slack, each only when configured, plus one
 * structured log line per alert. `alert()` never throws and never waits for a channel: it
 * returns after the cross-process dedupe check and the channels are called in the background.
 */
@Injectable()
export class NotificationsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(NotificationsService.name);
  private readonly sent: Counter<'channel' | 'severity' | 'result'>;
  private readonly inFlight = new Set<Promise<void>>();
  /** Dedupe of last resort while Redis is unreachable (this process only): key → expiry ms. */
  private readonly localClaims = new Map<string, number>();

  constructor(
    private readonly redis: RedisService,
    private readonly telegram: TelegramNotifier,
    private readonly slack: SlackNotifier,
    metrics: MetricsService,
  ) {
    this.sent = metrics.counter(
      'alerts_sent_total',
      'Operator alerts sent, by channel and result',
      ['channel', 'severity', 'result'],
    );
  }

  async alert(input: Alert): Promise<AlertOutcome> {
    try {
      const alert = normalize(input);
      if (!(await this.claim(alert.key))) {
        this.logger.debug(
          { alert_key: alert.key, severity: alert.severity, deduped: true },
          `alert suppressed (already sent within 30 min): ${alert.title}`,
        );
        return { deduped: true, channels: [] };
      }
      const notifiers = this.configuredNotifiers();
      const channels = notifiers.map(([channel]) => channel);
      this.logAlert(alert, channels);
      if (notifiers.length) this.track(this.dispatch(alert, notifiers));
      return { deduped: false, channels };
    } catch (err) {
      // Only a bug can land here; an alert must never break its caller.
      this.logger.error({ err: errorText(err) }, 'alert could not be processed');
      return { deduped: false, channels: [] };
    }
  }

  /** Resolves when the background sends started so far (and any started meanwhile) are done. */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await waitAtMost(this.whenIdle(), SHUTDOWN_WAIT_MS);
  }

  /** True when this call may send: no process sent the key within the TTL. */
  private async claim(key: string): Promise<boolean> {
    try {
      const res = await this.redis.client.set(
        this.redis.key('alert-sent', key),
        '1',
        'EX',
        ALERT_DEDUPE_TTL_S,
        'NX',
      );
      return res === 'OK';
    } catch (err) {
      // Better a duplicate alert than a lost one: send, deduping within this process only.
      this.logger.warn(
        { alert_key: key, err: errorText(err) },
        'alert dedupe check failed (Redis unavailable); sending anyway',
      );
      return this.claimLocally(key);
    }
  }

  private claimLocally(key: string): boolean {
    const now = Date.now();
    for (const [k, expires] of this.localClaims) if (expires <= now) this.localClaims.delete(k);
    if (this.localClaims.has(key)) return false;
    this.localClaims.set(key, now + ALERT_DEDUPE_TTL_S * 1000);
    return true;
  }

  /** Every channel failed: let the next occurrence try again instead of going quiet 30 min. */
  private async release(key: string): Promise<void> {
    this.localClaims.delete(key);
    await this.redis.client.del(this.redis.key('alert-sent', key)).catch(() => undefined);
  }

  private configuredNotifiers(): Array<[AlertChannel, Notifier]> {
    const all: Array<[AlertChannel, Notifier]> = [
      ['telegram', this.telegram],
      ['slack', this.slack],
    ];
    return all.filter(([, n]) => n.configured);
  }

  private async dispatch(alert: Alert, notifiers: Array<[AlertChannel, Notifier]>): Promise<void> {
    const results = await Promise.all(
      notifiers.map(async ([channel, notifier]) => {
        try {
          await notifier.send(alert);
          this.sent.inc({ channel, severity: alert.severity, result: 'sent' });
          return true;
        } catch (err) {
          this.sent.inc({ channel, severity: alert.severity, result: 'failed' });
          this.logger.warn(
            { alert_key: alert.key, channel, err: errorText(err) },
            `alert not delivered to ${channel}`,
          );
          return false;
        }
      }),
    );
    if (!results.some(Boolean)) await this.release(alert.key);
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch(() => undefined).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private logAlert(alert: Alert, channels: AlertChannel[]): void {
    const line = {
      alert_key: alert.key,
      severity: alert.severity,
      title: alert.title,
      text:
        alert.text.length > LOGGED_TEXT_MAX
          ? `${alert.text.slice(0, LOGGED_TEXT_MAX)}…`
          : alert.text,
      fields: alert.fields,
      url: alert.url,
      channels,
    };
    const message = `ALERT ${alert.severity.toUpperCase()}: ${alert.title}`;
    if (alert.severity === 'critical') this.logger.error(line, message);
    else if (alert.severity === 'warning') this.logger.warn(line, message);
    else this.logger.log(line, message);
  }
}

/** Defends against callers passing what the type doesn't allow (JS callers, bad casts). */
function normalize(input: Alert): Alert {
  const a = (input ?? {}) as Partial<Alert>;
  const title =
    String(a.title ?? '')
      .replace(/\s+/g, ' ')
      .trim() || 'alert';
  const rawKey = String(a.key ?? '').trim() || title;
  const key =
    rawKey.length > MAX_RAW_KEY_LENGTH
      ? `sha256-${createHash('sha256').update(rawKey).digest('hex')}`
      : rawKey;
  const fields: Record<string, string | number> = {};
  if (a.fields && typeof a.fields === 'object') {
    for (const [k, v] of Object.entries(a.fields)) {
      if (v === undefined || v === null) continue;
      fields[k] = typeof v === 'number' ? v : String(v);
    }
  }
  return {
    key,
    severity: SEVERITIES.includes(a.severity as AlertSeverity) ? a.severity! : 'warning',
    title,
    text: String(a.text ?? ''),
    ...(Object.keys(fields).length ? { fields } : {}),
    ...(a.url ? { url: String(a.url) } : {}),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
