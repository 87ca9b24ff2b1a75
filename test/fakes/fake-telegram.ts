import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a test can make the next sendMessage request(s) do. */
export type TelegramScript =
  | { kind: 'error'; errorCode: number; description: string }
  | { kind: 'http'; status: number; body: string }
  | { kind: 'hang'; ms: number };

export interface TelegramRequest {
  path: string;
  body: Record<string, unknown>;
  /** The text as a Telegram user would see it (entities parsed), when it parsed. */
  plainText?: string;
  /** `{ok:false}` description when Telegram would reject it. */
  rejected?: string;
  /** The client went away before an answer (e.g. its timeout fired while we hung). */
  aborted: boolean;
}

/** Tags Telegram's HTML parse mode understands (https://core.telegram.org/bots/api#html-style). */
const KNOWN_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'tg-emoji',
  'code',
  'pre',
  'blockquote',
]);
const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/**
 * Minimal Telegram HTML parser with Telegram's rules: every `<` starts a known tag, every `&`
 * an entity (only lt/gt/amp/quot by name, or numeric), tags are balanced. Returns the visible
 * text, or throws with a Telegram-like "can't parse entities" reason.
 */
export function parseTelegramHtml(html: string): string {
  const stack: string[] = [];
  let text = '';
  let i = 0;
  const offset = (): number => Buffer.byteLength(html.slice(0, i));
  while (i < html.length) {
    const c = html[i];
    if (c === '<') {
      const end = html.indexOf('>', i);
      if (end < 0) throw new Error(`Unclosed start tag at byte offset ${offset()}`);
      const inner = html.slice(i + 1, end);
      if (inner.startsWith('/')) {
        const name = inner.slice(1).trim().toLowerCase();
        if (stack.pop() !== name) throw new Error(`Unexpected end tag at byte offset ${offset()}`);
      } else {
        const name = (/^[a-zA-Z][\w-]*/.exec(inner)?.[0] ?? inner).toLowerCase();
        if (!KNOWN_TAGS.has(name)) {
          throw new Error(`Unsupported start tag "${name}" at byte offset ${offset()}`);
        }
        const attrs = inner.slice(name.length);
        if (/[<&]/.test(attrs.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi, ''))) {
          throw new Error(`Unexpected character in tag attributes at byte offset ${offset()}`);
        }
        stack.push(name);
      }
      i = end + 1;
    } else if (c === '&') {
      const m = /^&(?:([a-z]+)|#(\d+)|#x([0-9a-f]+));/i.exec(html.slice(i));
      if (!m) throw new Error(`Character entity expected at byte offset ${offset()}`);
      if (m[1] !== undefined) {
        const named = NAMED_ENTITIES[m[1].toLowerCase()];
        if (named === undefined) {
          throw new Error(`Unsupported HTML entity "&${m[1]};" at byte offset ${offset()}`);
        }
        text += named;
      } else {
        text += String.fromCodePoint(m[2] !== undefined ? Number(m[2]) : parseInt(m[3], 16));
      }
      i += m[0].length;
    } else if (c === '>') {
      throw new Error(`Unexpected ">" at byte offset ${offset()}`);
    } else {
      text += c;
      i++;
    }
  }
  if (stack.length) {
    throw new Error(`Can't find end tag corresponding to start tag "${stack[stack.length - 1]}"`);
  }
  return text;
}

/**
 * A local Telegram Bot API speaking its wire format: `POST /bot<token>/sendMessage` answers
 * `{ok: true, result: Message}` or `{ok: false, error_code, description}` with HTTP 4xx.
 */
export class FakeTelegram {
  readonly token = `${100000 + Math.floor(Math.random() * 900000)}:AA${randomBytes(16).toString('hex')}`;
  readonly chatId = '-1001234567890';
  readonly requests: TelegramRequest[] = [];
  url = '';
  private readonly script: TelegramScript[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextMessageId = 1;
  private server?: Server;

  /** Env for the app under test. */
  env(): Record<string, string> {
    return {
      TELEGRAM_API_URL: this.url,
      TELEGRAM_BOT_TOKEN: this.token,
      TELEGRAM_CHAT_ID: this.chatId,
    };
  }

  /** Messages Telegram accepted (what reached the chat). */
  get delivered(): TelegramRequest[] {
    return this.requests.filter((r) => r.plainText !== undefined && !r.rejected && !r.aborted);
  }

  /** The next requests follow these steps, then normal behaviour again. */
  queueResponses(...steps: TelegramScript[]): this {
    this.script.push(...steps);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private answer(res: ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private fail(res: ServerResponse, errorCode: number, description: string): void {
    this.answer(res, errorCode, { ok: false, error_code: errorCode, description });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    if (!m) return this.fail(res, 404, 'Not Found');
    if (m[1] !== this.token) return this.fail(res, 401, 'Unauthorized');
    if (m[2] !== 'sendMessage') return this.fail(res, 404, 'Not Found: method not found');
    if (req.method !== 'POST' && req.method !== 'GET')
      return this.fail(res, 405, 'Method Not Allowed');

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return this.fail(res, 400, "Bad Request: can't parse JSON");
    }
    const record: TelegramRequest = { path: `/bot[token]/${m[2]}`, body, aborted: false };
    this.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });

    const step = this.script.shift();
    if (step?.kind === 'hang') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, step.ms);
        this.timers.add(t);
        res.on('close', () => {
          clearTimeout(t);
          this.timers.delete(t);
          resolve();
        });
      });
      if (res.destroyed) return;
    } else if (step?.kind === 'error') {
      record.rejected = step.description;
      return this.fail(res, step.errorCode, step.description);
    } else if (step?.kind === 'http') {
      record.rejected = step.body;
      res.writeHead(step.status, { 'Content-Type': 'text/html' });
      res.end(step.body);
      return;
    }

    const reject = (description: string): void => {
      record.rejected = description;
      this.fail(res, 400, description);
    };
    if (body.chat_id === undefined || body.chat_id === '') {
      return reject('Bad Request: chat_id is empty');
    }
    if (String(body.chat_id) !== this.chatId) return reject('Bad Request: chat not found');
    if (typeof body.text !== 'string' || body.text.trim() === '') {
      return reject('Bad Request: message text is empty');
    }
    let plain = body.text;
    if (body.parse_mode !== undefined) {
      if (body.parse_mode !== 'HTML') {
        return reject(
          `Bad Request: unsupported parse_mode in this fake: ${String(body.parse_mode)}`,
        );
      }
      try {
        plain = parseTelegramHtml(body.text);
      } catch (err) {
        return reject(`Bad Request: can't parse entities: ${(err as Error).message}`);
      }
    }
    if (Array.from(plain).length > 4096) return reject('Bad Request: message is too long');
    record.plainText = plain;
    const now = Math.floor(Date.now() / 1000);
    this.answer(res, 200, {
      ok: true,
      result: {
        message_id: this.nextMessageId++,
        from: {
          id: Number(this.token.split(':')[0]),
          is_bot: true,
          first_name: 'Alerts',
          username: 'fake_alerts_bot',
        },
        chat: { id: Number(this.chatId), title: 'Ops', type: 'supergroup' },
        date: now,
        text: plain,
      },
    });
  }
}
