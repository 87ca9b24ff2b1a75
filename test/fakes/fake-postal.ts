import { KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ParsedMail, simpleParser } from 'mailparser';
import { rubyEncode64 } from 'test/fakes/postal-payloads';
import { postalJwks } from 'test/fakes/postal-webhook-signer';

async function firstTextPart(raw: string): Promise<string | null> {
  const mail = await simpleParser(raw, { keepDeliveryStatus: true, skipTextToHtml: true });
  return mail.text ?? null;
}

/** What a test can make the next send request(s) do. */
export type PostalScript =
  | { kind: 'error'; code: string; message?: string }
  | { kind: 'parameter-error'; message?: string }
  | { kind: 'http'; status: number; body?: string }
  | { kind: 'hang'; ms: number }
  | { kind: 'drop' };

export interface ReceivedMessage {
  id: number;
  token: string;
  messageId: string;
  /** `send/raw`: the envelope recipient of this message (Postal stores one per rcpt_to). */
  rcptTo?: string;
  /** `send/raw`: the envelope sender. */
  mailFrom?: string;
  /** `send/raw`: the decoded message exactly as sent. */
  raw?: Buffer;
  /** `send/raw`: the message parsed by mailparser (with `keepBodies`). */
  parsed?: ParsedMail;
  /**
   * The message as `send/message` parameters. For `send/raw` a view read from the MIME, so
   * tests assert on the same fields either way: `to` is the To header's mailboxes, `headers`
   * every header but the structural ones (From, To, Cc, Subject, Reply-To, Message-ID, Date,
   * MIME-*, Content-*, X-Postal-Tag), names as written; `tag` is X-Postal-Tag (what Postal's
   * outgoing_message_processor.rb `add_tag` reads).
   */
  body: {
    to: string[];
    from: string;
    subject: string;
    reply_to?: string;
    plain_body?: string;
    html_body?: string;
    tag?: string;
    headers?: Record<string, string>;
  };
  receivedAt: number;
}

export interface FakePostalOptions {
  /**
   * Keep every accepted message in `received` (default). Benchmarks turn it off so that a
   * long run counts messages (`accepted`) without holding their bodies in memory.
   */
  keepBodies?: boolean;
  /**
   * Called for every recipient accepted with `success` (whether or not bodies are kept), e.g.
   * to count receipts per `X-Email-Id` without holding every body.
   */
  onAccepted?: (message: ReceivedMessage) => void;
}

/**
 * How a downed FakePostal looks to the app: `refuse` closes the port (connection refused,
 * like a stopped server); `http-503` keeps it open and answers every send with HTTP 503 (like
 * a proxy in front of a stopped Postal).
 */
export type PostalOutageMode = 'refuse' | 'http-503';

/**
 * A local Postal speaking its real wire format (app/controllers/legacy_api/base_controller.rb): HTTP 200 for errors too, with a
 * `status` of `success`, `error` or `parameter-error`; per-recipient `id` and `token`.
 */
export class FakePostal {
  readonly apiKey = `fake-${randomBytes(6).toString('hex')}`;
  readonly received: ReceivedMessage[] = [];
  /** Raw send requests, including the ones answered with an error. */
  attempts = 0;
  /** Recipients accepted with `success` (counted whether or not bodies are kept). */
  accepted = 0;
  private readonly keepBodies: boolean;
  private readonly onAccepted?: (message: ReceivedMessage) => void;
  /** Send requests being handled right now (read, not yet answered). */
  inFlight = 0;
  /**
   * Milliseconds each send request takes before Postal commits and answers (latency). The
   * message is committed even if the client has gone meanwhile, as a real server would.
   */
  delayMs = 0;
  /** Send requests turned away while down (`http-503`, or on a connection left open). */
  rejectedWhileDown = 0;
  private outage: PostalOutageMode | null = null;
  private port = 0;
  /** Bodies returned by `POST /api/v1/messages/message` (bounce lookups), by id. */
  readonly plainBodies = new Map<number, string>();
  /**
   * Stored raw messages (as Postal's `Message#raw_message` returns them, see
   * test/fakes/postal-payloads.ts `postalStoredRaw`) served as the `raw_message` expansion.
   */
  readonly rawMessages = new Map<number, string>();
  /** Requests to `POST /api/v1/messages/message`, answered or not. */
  messageLookups = 0;
  private readonly script: PostalScript[] = [];
  /**
   * Domains the server may send from (Postal's authenticated domains); unset: any From with a
   * domain. `send/raw` answers UnauthenticatedFromAddress otherwise.
   */
  authenticatedDomains?: Set<string>;
  /**
   * The installation's signing key: when set, `GET /.well-known/jwks.json` serves its public
   * half as Postal ≥ 3.2 does; unset, the route is a 404 (an older Postal).
   */
  signingKey?: KeyObject;
  /** The mail server is suspended: every API call is `ServerSuspended`. */
  suspended = false;
  private nextId = 1000;
  private server?: Server;
  url = '';

  constructor(options: FakePostalOptions = {}) {
    this.keepBodies = options.keepBodies ?? true;
    this.onAccepted = options.onAccepted;
  }

  /** True between `goDown()` and `comeUp()`. */
  get isDown(): boolean {
    return this.outage !== null;
  }

  /**
   * Takes Postal down. Requests already being handled finish (what Postal committed is
   * answered, so no send is lost in flight); anything later is refused or answered 503.
   */
  async goDown(mode: PostalOutageMode = 'refuse'): Promise<void> {
    if (this.outage) return;
    this.outage = mode;
    if (mode !== 'refuse' || !this.server) return;
    const server = this.server;
    this.server = undefined;
    // Stops listening at once. Busy connections finish their answer, then are closed as they
    // fall idle (a closed server would otherwise keep them for the keep-alive timeout).
    const sweep = setInterval(() => server.closeIdleConnections(), 20);
    server.close(() => clearInterval(sweep));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Brings Postal back on the same port. */
  async comeUp(): Promise<void> {
    if (!this.outage) return;
    const mode = this.outage;
    this.outage = null;
    if (mode === 'refuse') await this.listen(this.port);
  }

  /** The next requests follow these steps, then success again. */
  queueResponses(...steps: PostalScript[]): this {
    this.script.push(...steps);
    return this;
  }

  async start(): Promise<this> {
    await this.listen(0);
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** Messages received for one recipient address (the envelope recipient for send/raw). */
  to(address: string): ReceivedMessage[] {
    const wanted = address.toLowerCase();
    return this.received.filter((m) =>
      m.rcptTo !== undefined
        ? m.rcptTo.toLowerCase() === wanted
        : m.body.to.some((t) => t.toLowerCase().includes(wanted)),
    );
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  /**
   * `POST /api/v1/messages/message` as Postal answers it (app/controllers/legacy_api/
   * messages_controller.rb `message`, base_controller.rb `render_*`): `{id, token}` plus the
   * requested `_expansions` (an array, or `true` for all); `raw_message` is Ruby's
   * `Base64.encode64` of the stored message; an unknown id is `MessageNotFound` with the id as
   * given; a blank id a parameter-error.
   */
  private async message(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    this.messageLookups += 1;
    if (this.outage) {
      res.writeHead(503, { 'Content-Type': 'text/html' });
      res.end('<h1>503 Service Unavailable</h1>');
      return;
    }
    const rawId = body.id;
    if (rawId === undefined || rawId === null || String(rawId).trim() === '') {
      return this.json(res, 200, {
        status: 'parameter-error',
        time: 0,
        flags: {},
        data: { message: '`id` parameter is required but is missing' },
      });
    }
    const id = Number(rawId);
    const plain = this.plainBodies.get(id);
    const raw = this.rawMessages.get(id);
    if (plain === undefined && raw === undefined) {
      return this.json(res, 200, {
        status: 'error',
        time: 0,
        flags: {},
        data: {
          message: 'No message found matching provided ID',
          id: rawId,
          code: 'MessageNotFound',
        },
      });
    }
    const expansions = body._expansions;
    const wants = (name: string) =>
      expansions === true || (Array.isArray(expansions) && expansions.includes(name));
    const data: Record<string, unknown> = { id, token: `tok${id}` };
    // `Mail::Message#plain_body` (config/initializers/mail_extensions.rb): the first
    // text/plain part — of a delivery report, the human-readable notification only.
    if (wants('plain_body')) data.plain_body = plain ?? (raw ? await firstTextPart(raw) : null);
    // A message whose raw data is gone is "\r\n\r\n" (message.rb `raw_message`).
    if (wants('raw_message')) data.raw_message = rubyEncode64(raw ?? '\r\n\r\n');
    return this.json(res, 200, { status: 'success', time: 0.002, flags: {}, data });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    // config/routes.rb: `get ".well-known/jwks.json" => "well_known#jwks"`, no authentication
    // (app/controllers/well_known_controller.rb renders the signing key's JWK set).
    if (req.url === '/.well-known/jwks.json' && req.method === 'GET') {
      if (!this.signingKey) return this.json(res, 404, { error: 'not found' });
      return this.json(res, 200, postalJwks(this.signingKey));
    }
    if (req.method !== 'POST') return this.json(res, 404, { status: 'error' });
    // app/controllers/legacy_api/base_controller.rb `authenticate_as_server`: no key is
    // AccessDenied; an unknown one InvalidServerAPIKey, echoing the token given.
    const key = req.headers['x-server-api-key'];
    if (typeof key !== 'string' || key.trim() === '') {
      return this.json(res, 200, {
        status: 'error',
        time: 0.001,
        flags: {},
        data: { message: 'Must be authenticated as a server.', code: 'AccessDenied' },
      });
    }
    if (key !== this.apiKey) {
      return this.json(res, 200, {
        status: 'error',
        time: 0.001,
        flags: {},
        data: {
          message: 'The API token provided in X-Server-API-Key was not valid.',
          token: key,
          code: 'InvalidServerAPIKey',
        },
      });
    }
    if (this.suspended) {
      return this.json(res, 200, {
        status: 'error',
        time: 0.001,
        flags: {},
        data: { code: 'ServerSuspended' },
      });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return this.json(res, 200, {
        status: 'parameter-error',
        time: 0,
        flags: {},
        data: { message: 'Invalid JSON' },
      });
    }
    if (req.url === '/api/v1/messages/message') return void (await this.message(res, body));
    if (req.url !== '/api/v1/send/message' && req.url !== '/api/v1/send/raw') {
      return this.json(res, 404, { status: 'error' });
    }

    this.attempts += 1;
    if (this.outage) {
      this.rejectedWhileDown += 1;
      // A request that reached a closing server on a kept-alive connection: never processed.
      if (this.outage === 'refuse') return void req.socket.destroy();
      res.writeHead(503, { 'Content-Type': 'text/html' });
      res.end('<h1>503 Service Unavailable</h1>');
      return;
    }
    this.inFlight += 1;
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (req.url === '/api/v1/send/raw') await this.sendRaw(req, res, body);
      else await this.send(req, res, body);
    } finally {
      this.inFlight -= 1;
    }
  }

  /** A scripted answer for this request, when a test queued one; true when it answered. */
  private async scripted(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const step = this.script.shift();
    if (step?.kind === 'hang') {
      await new Promise((r) => setTimeout(r, step.ms));
      // The client gave up (timeout): like a request that never reached Postal.
      if (res.destroyed || req.socket.destroyed) return true;
    } else if (step?.kind === 'drop') {
      req.socket.destroy();
      return true;
    } else if (step?.kind === 'http') {
      res.writeHead(step.status, { 'Content-Type': 'text/html' });
      res.end(step.body ?? '<h1>Internal Server Error</h1>');
      return true;
    } else if (step?.kind === 'error') {
      this.json(res, 200, {
        status: 'error',
        time: 0.01,
        flags: {},
        data: { code: step.code, message: step.message ?? `${step.code} happened` },
      });
      return true;
    } else if (step?.kind === 'parameter-error') {
      this.json(res, 200, {
        status: 'parameter-error',
        time: 0.01,
        flags: {},
        data: { message: step.message ?? 'Parameter error' },
      });
      return true;
    }
    return false;
  }

  /**
   * `POST /api/v1/send/raw` as Postal answers it (postalserver/postal
   * app/controllers/legacy_api/send_controller.rb `raw`, at 8ef8960): parameter errors for a
   * non-array `rcpt_to` and a blank `mail_from` or `data`; `data` decoded like Ruby's
   * `Base64.decode64`; `UnauthenticatedFromAddress` unless the From (or Sender) header's
   * domain is one the server may send from (any, unless `authenticatedDomains` is set); one
   * message per distinct `rcpt_to`, each `{id, token}` keyed by the address as given, and
   * `message_id` the data's Message-ID header without its brackets (message.rb
   * `copy_attributes_from_raw_message`), null when no recipient.
   */
  private async sendRaw(
    req: IncomingMessage,
    res: ServerResponse,
    body: Record<string, unknown>,
  ): Promise<void> {
    if (await this.scripted(req, res)) return;
    const paramError = (message: string) =>
      this.json(res, 200, { status: 'parameter-error', time: 0, flags: {}, data: { message } });
    const blank = (v: unknown) => v === undefined || v === null || String(v).trim() === '';
    if (!Array.isArray(body.rcpt_to)) {
      return paramError('`rcpt_to` parameter is required but is missing');
    }
    if (blank(body.mail_from))
      return paramError('`mail_from` parameter is required but is missing');
    if (blank(body.data)) return paramError('`data` parameter is required but is missing');
    const raw = Buffer.from(String(body.data), 'base64');
    const head = raw.toString('latin1').split('\r\n\r\n', 1)[0];
    const headers = parseHeaderBlock(head);
    const fromDomain = (name: string) =>
      /@([^>\s]+)>?\s*$/.exec(headers.find((h) => h.name.toLowerCase() === name)?.value ?? '')?.[1];
    const domains = [fromDomain('from'), fromDomain('sender')].filter(Boolean) as string[];
    const authenticated = this.authenticatedDomains
      ? domains.some((d) => this.authenticatedDomains!.has(d.toLowerCase()))
      : domains.length > 0;
    if (!authenticated) {
      return this.json(res, 200, {
        status: 'error',
        time: 0,
        flags: {},
        data: {
          code: 'UnauthenticatedFromAddress',
          message: 'The From address is not authorised to send mail from this server',
        },
      });
    }
    const rfcId = headers.find((h) => h.name.toLowerCase() === 'message-id')?.value;
    const messageId = rfcId ? rfcId.replace(/.*</, '').replace(/>.*/, '').trim() : null;
    const view = this.keepBodies ? await rawView(raw, headers) : headerView(headers);
    const messages: Record<string, { id: number; token: string }> = {};
    for (const rcpt of [...new Set(body.rcpt_to.map(String))]) {
      const id = this.nextId++;
      const token = randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16);
      messages[rcpt] = { id, token };
      this.accepted += 1;
      if (!this.keepBodies && !this.onAccepted) continue;
      const received: ReceivedMessage = {
        id,
        token,
        messageId: messageId ?? '',
        rcptTo: rcpt,
        mailFrom: String(body.mail_from),
        ...(this.keepBodies ? { raw, parsed: view.parsed } : {}),
        body: view.body,
        receivedAt: Date.now(),
      };
      if (this.keepBodies) this.received.push(received);
      this.onAccepted?.(received);
    }
    this.json(res, 200, {
      status: 'success',
      time: 0.05,
      flags: {},
      data: { message_id: messageId, messages },
    });
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    body: Record<string, unknown>,
  ): Promise<void> {
    if (await this.scripted(req, res)) return;
    const to = (body.to as string[] | undefined) ?? [];
    if (to.length === 0) {
      return this.json(res, 200, {
        status: 'error',
        time: 0,
        flags: {},
        data: {
          code: 'NoRecipients',
          message: 'There are no recipients defined to receive this message',
        },
      });
    }
    const messageId = `${randomUUID()}@rp.postal.example`;
    const messages: Record<string, { id: number; token: string }> = {};
    for (const rcpt of to) {
      const address = /<([^>]+)>$/.exec(rcpt)?.[1] ?? rcpt;
      const id = this.nextId++;
      const token = randomBytes(8).toString('base64url');
      messages[address] = { id, token };
      this.accepted += 1;
      if (!this.keepBodies && !this.onAccepted) continue;
      const received: ReceivedMessage = {
        id,
        token,
        messageId,
        body: body as unknown as ReceivedMessage['body'],
        receivedAt: Date.now(),
      };
      if (this.keepBodies) this.received.push(received);
      this.onAccepted?.(received);
    }
    this.json(res, 200, {
      status: 'success',
      time: 0.05,
      flags: {},
      data: { message_id: messageId, messages },
    });
  }
}

interface HeaderLine {
  name: string;
  value: string;
}

/** RFC 5322 header fields of a header block, unfolded, names as written. */
function parseHeaderBlock(head: string): HeaderLine[] {
  const out: HeaderLine[] = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      out[out.length - 1].value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) out.push({ name: line.slice(0, colon), value: line.slice(colon + 1) });
  }
  return out.map((h) => ({ name: h.name, value: h.value.trim() }));
}

const STRUCTURAL =
  /^(from|to|cc|bcc|subject|reply-to|message-id|date|mime-version|content-.*|x-postal-tag)$/i;

/** The caller's and the service's headers (everything not structural), names as written. */
function extraHeaders(headers: HeaderLine[]): Record<string, string> {
  return Object.fromEntries(
    headers.filter((h) => !STRUCTURAL.test(h.name)).map((h) => [h.name, h.value]),
  );
}

/** Without bodies (benchmarks): the headers a counter needs. */
function headerView(headers: HeaderLine[]): { body: ReceivedMessage['body']; parsed?: ParsedMail } {
  const tag = headers.find((h) => /^x-postal-tag$/i.test(h.name))?.value;
  return {
    body: {
      to: [],
      from: headers.find((h) => /^from$/i.test(h.name))?.value ?? '',
      subject: '',
      headers: extraHeaders(headers),
      ...(tag ? { tag } : {}),
    },
  };
}

/** The whole message read back by mailparser, as the send/message fields. */
async function rawView(
  raw: Buffer,
  headers: HeaderLine[],
): Promise<{ body: ReceivedMessage['body']; parsed: ParsedMail }> {
  const parsed = await simpleParser(raw, { skipTextToHtml: true, skipImageLinks: true });
  const mailboxes = (a: ParsedMail['to']) =>
    (Array.isArray(a) ? a : a ? [a] : [])
      .flatMap((x) => x.value)
      .map((v) => (v.name ? `${v.name} <${v.address}>` : String(v.address)));
  const replyTo = mailboxes(parsed.replyTo)[0];
  const tag = headers.find((h) => /^x-postal-tag$/i.test(h.name))?.value;
  return {
    parsed,
    body: {
      to: mailboxes(parsed.to),
      from: mailboxes(parsed.from)[0] ?? '',
      subject: parsed.subject ?? '',
      ...(replyTo ? { reply_to: replyTo } : {}),
      ...(parsed.text !== undefined ? { plain_body: parsed.text } : {}),
      ...(typeof parsed.html === 'string' ? { html_body: parsed.html } : {}),
      ...(tag ? { tag } : {}),
      headers: extraHeaders(headers),
    },
  };
}
