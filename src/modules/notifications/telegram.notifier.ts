import { Injectable, Optional } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import type { Alert, AlertSeverity } from 'src/modules/notifications/notifications.service';

/** Telegram's limit for a message text. We keep the sent HTML within it (stricter than needed). */
export const TELEGRAM_TEXT_LIMIT = 4096;
/** A notification call gives up after 10 s. */
const SEND_TIMEOUT_MS = 10_000;
const TITLE_MAX = 256;
const FIELD_NAME_MAX = 64;
const FIELD_VALUE_MAX = 512;
const MAX_FIELDS = 25;
const ELLIPSIS = '…';

const BADGE: Record<AlertSeverity, string> = {
  critical: '🔴 CRITICAL',
  warning: '🟠 WARNING',
  info: '🔵 INFO',
};

export interface TelegramNotifierOptions {
  /** Defaults to 10 s. Tests pass a short one; Nest never passes options. */
  timeoutMs?: number;
}

/**
 * Escapes text for Telegram's `parse_mode: 'HTML'`: `<`, `>` and `&` must be entities; quotes
 * are escaped too so the same function is safe inside an attribute (`href="…"`).
 */
export function escapeTelegramHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** A run of text, optionally wrapped in one tag; `href` makes it a link. */
interface Piece {
  text: string;
  bold?: boolean;
  href?: string;
}

/**
 * Renders pieces as Telegram HTML no longer than `limit` characters. When the text doesn't fit
 * it is cut between characters (never inside an entity or a surrogate pair), the open tag is
 * closed and `…` appended, so the result always parses.
 */
export function renderTelegramHtml(pieces: Piece[], limit = TELEGRAM_TEXT_LIMIT): string {
  let out = '';
  for (const piece of pieces) {
    const open = piece.href
      ? `<a href="${escapeTelegramHtml(piece.href)}">`
      : piece.bold
        ? '<b>'
        : '';
    const close = piece.href ? '</a>' : piece.bold ? '</b>' : '';
    if (out.length + open.length + close.length + ELLIPSIS.length > limit) return out + ELLIPSIS;
    out += open;
    for (const ch of piece.text) {
      const e = escapeTelegramHtml(ch);
      if (out.length + e.length + close.length + ELLIPSIS.length > limit) {
        return out + close + ELLIPSIS;
      }
      out += e;
    }
    out += close;
  }
  return out;
}

/** Plain-text cut to `max` code points (for one-line parts that have their own cap). */
function cap(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length > max ? chars.slice(0, max - 1).join('') + ELLIPSIS : text;
}

/** The normalised URL when it is http(s) (Telegram refuses other link schemes), else undefined. */
function webHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The message: badge and title, the fields, the link, then the body. The body comes last so
 * that truncation to Telegram's limit only ever shortens it.
 */
export function formatTelegramMessage(alert: Alert): string {
  const pieces: Piece[] = [
    { text: `${BADGE[alert.severity] ?? alert.severity}: `, bold: true },
    { text: cap(alert.title.replace(/\s+/g, ' '), TITLE_MAX), bold: true },
  ];
  const fields = Object.entries(alert.fields ?? {}).slice(0, MAX_FIELDS);
  if (fields.length) pieces.push({ text: '\n' });
  for (const [name, value] of fields) {
    pieces.push(
      { text: '\n' },
      { text: `${cap(name, FIELD_NAME_MAX)}:`, bold: true },
      { text: ` ${cap(String(value), FIELD_VALUE_MAX)}` },
    );
  }
  if (alert.url) {
    pieces.push({ text: '\n' });
    const href = webHref(alert.url);
    if (href) pieces.push({ text: 'Open', href });
    else pieces.push({ text: cap(alert.url, FIELD_VALUE_MAX) });
  }
  if (alert.text) pieces.push({ text: '\n\n' }, { text: alert.text });
  return renderTelegramHtml(pieces);
}

/** Removes a secret from any text that is about to leave this class. */
function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}

/** What went wrong with a fetch, without the URL (it holds the bot token). */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  if (e?.cause?.code === 'ERR_INVALID_URL') return 'invalid URL';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.name ?? 'Error'}: ${cause}` : `${e?.name ?? 'Error'}: ${e?.message ?? ''}`;
}

interface TelegramAnswer {
  ok?: boolean;
  error_code?: number;
  description?: string;
}

/**
 * Telegram Bot API `sendMessage` (HTML parse mode). Telegram answers
 * `{ok: true, result}` or `{ok: false, error_code, description}` (HTTP 4xx); anything but
 * `ok: true` is a failure. Errors never carry the bot token.
 */
@Injectable()
export class TelegramNotifier {
  readonly timeoutMs: number;

  constructor(
    private readonly config: AppConfig,
    @Optional() options?: TelegramNotifierOptions,
  ) {
    this.timeoutMs = options?.timeoutMs ?? SEND_TIMEOUT_MS;
  }

  get configured(): boolean {
    return Boolean(this.config.telegram.botToken && this.config.telegram.chatId);
  }

  async send(alert: Alert): Promise<void> {
    const { botToken, chatId, apiUrl } = this.config.telegram;
    if (!botToken || !chatId) throw new Error('Telegram is not configured');
    try {
      await this.post(`${apiUrl}/bot${botToken}/sendMessage`, {
        chat_id: chatId,
        text: formatTelegramMessage(alert),
        parse_mode: 'HTML',
        disable_web_page_preview: true,
      });
    } catch (err) {
      throw new Error(redact(`Telegram sendMessage failed: ${(err as Error).message}`, botToken));
    }
  }

  private async post(url: string, body: unknown): Promise<void> {
    let status: number;
    let raw: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      raw = await res.text();
    } catch (err) {
      throw new Error(describeFetchError(err, this.timeoutMs));
    }
    let answer: TelegramAnswer;
    try {
      answer = JSON.parse(raw) as TelegramAnswer;
    } catch {
      throw new Error(`HTTP ${status} with a non-JSON body`);
    }
    if (answer?.ok !== true) {
      const description = String(answer?.description ?? 'no description').slice(0, 300);
      throw new Error(`${answer?.error_code ?? `HTTP ${status}`} ${description}`);
    }
  }
}
