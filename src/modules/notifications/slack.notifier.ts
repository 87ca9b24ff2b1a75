import { Injectable, Optional } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import type { Alert, AlertSeverity } from 'src/modules/notifications/notifications.service';

/** A notification call gives up after 10 s. */
const SEND_TIMEOUT_MS = 10_000;
/** Slack shows about this much of an attachment's text before "Show more"; keep it readable. */
const TEXT_MAX = 3000;
const TITLE_MAX = 256;
const FIELD_VALUE_MAX = 512;
const MAX_FIELDS = 25;
/** Slack renders a field side by side with the next one only when it is short. */
const SHORT_FIELD_MAX = 40;
const ELLIPSIS = '…';

export const SLACK_COLORS: Record<AlertSeverity, string> = {
  critical: '#d92d20',
  warning: '#f79009',
  info: '#2e90fa',
};

export interface SlackNotifierOptions {
  /** Defaults to 10 s. Tests pass a short one; Nest never passes options. */
  timeoutMs?: number;
}

export interface SlackAttachment {
  fallback: string;
  color: string;
  title: string;
  title_link?: string;
  text: string;
  fields: Array<{ title: string; value: string; short: boolean }>;
  footer: string;
  ts: number;
}

export interface SlackWebhookPayload {
  text: string;
  attachments: SlackAttachment[];
}

/**
 * Slack's three control characters. Unescaped, provider text such as `<!channel>` or
 * `<https://x|click>` would become a mention or a link.
 */
export function escapeSlackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cut to `max` code points before escaping, so an entity is never split. */
function fit(text: string, max: number): string {
  const chars = Array.from(text);
  const cut = chars.length > max ? chars.slice(0, max - 1).join('') + ELLIPSIS : text;
  return escapeSlackText(cut);
}

function isWebUrl(url: string | undefined): url is string {
  if (!url) return false;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** The incoming-webhook body: a fallback line and one attachment coloured by severity. */
export function buildSlackPayload(alert: Alert, now = Date.now()): SlackWebhookPayload {
  const title = fit(alert.title.replace(/\s+/g, ' '), TITLE_MAX);
  const severity = alert.severity.toUpperCase();
  const fields = Object.entries(alert.fields ?? {})
    .slice(0, MAX_FIELDS)
    .map(([name, value]) => {
      const v = String(value);
      return {
        title: fit(name, TITLE_MAX),
        value: fit(v, FIELD_VALUE_MAX),
        short: v.length <= SHORT_FIELD_MAX,
      };
    });
  let text = fit(alert.text, TEXT_MAX);
  if (alert.url && !isWebUrl(alert.url)) text += `\n${fit(alert.url, FIELD_VALUE_MAX)}`;
  const fallback = `[${severity}] ${title}`;
  return {
    text: fallback,
    attachments: [
      {
        fallback,
        color: SLACK_COLORS[alert.severity] ?? SLACK_COLORS.warning,
        title,
        ...(isWebUrl(alert.url) ? { title_link: alert.url } : {}),
        text,
        fields,
        footer: `email-sender · ${fit(alert.key, TITLE_MAX)}`,
        ts: Math.floor(now / 1000),
      },
    ],
  };
}

/** What went wrong with a fetch, without the URL (the webhook URL is a secret). */
function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (e?.cause?.code === 'ERR_INVALID_URL') return 'invalid URL';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.name ?? 'Error'}: ${cause}` : `${e?.name ?? 'Error'}: ${e?.message ?? ''}`;
}

/**
 * Slack incoming webhook. Slack answers `ok` (HTTP 200) or a plain-text error code such as
 * 400 `invalid_payload`, 404 `no_service`, 410 `channel_is_archived`. Errors never carry the
 * webhook URL.
 */
@Injectable()
export class SlackNotifier {
  readonly timeoutMs: number;

  constructor(
    private readonly config: AppConfig,
    @Optional() options?: SlackNotifierOptions,
  ) {
    this.timeoutMs = options?.timeoutMs ?? SEND_TIMEOUT_MS;
  }

  get configured(): boolean {
    return Boolean(this.config.slackWebhookUrl);
  }

  async send(alert: Alert): Promise<void> {
    const url = this.config.slackWebhookUrl;
    if (!url) throw new Error('Slack is not configured');
    let status: number;
    let body: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(buildSlackPayload(alert)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      body = (await res.text()).trim();
    } catch (err) {
      throw new Error(
        redact(`Slack webhook failed: ${describeFetchError(err, this.timeoutMs)}`, url),
      );
    }
    if (status !== 200 || body !== 'ok') {
      throw new Error(redact(`Slack webhook answered HTTP ${status}: ${body.slice(0, 200)}`, url));
    }
  }
}

function redact(text: string, secret: string): string {
  return text.split(secret).join('[redacted]');
}
