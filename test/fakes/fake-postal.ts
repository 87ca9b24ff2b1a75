import { KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
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

  /** Messages received for one recipient address. */
  to(address: string): ReceivedMessage[] {
    return this.received.filter((m) =>
      m.body.to.some((t) => t.toLowerCase().includes(address.toLowerCase())),
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
    if (req.url !== '/api/v1/send/message') return this.json(res, 404, { status: 'error' });

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
      await this.send(req, res, body);
    } finally {
      this.inFlight -= 1;
    }
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    body: Record<string, unknown>,
  ): Promise<void> {
    const step = this.script.shift();
    if (step?.kind === 'hang') {
      await new Promise((r) => setTimeout(r, step.ms));
      // The client gave up (timeout): like a request that never reached Postal.
      if (res.destroyed || req.socket.destroyed) return;
    } else if (step?.kind === 'drop') {
      req.socket.destroy();
      return;
    } else if (step?.kind === 'http') {
      res.writeHead(step.status, { 'Content-Type': 'text/html' });
      res.end(step.body ?? '<h1>Internal Server Error</h1>');
      return;
    } else if (step?.kind === 'error') {
      return this.json(res, 200, {
        status: 'error',
        time: 0.01,
        flags: {},
        data: { code: step.code, message: step.message ?? `${step.code} happened` },
      });
    } else if (step?.kind === 'parameter-error') {
      return this.json(res, 200, {
        status: 'parameter-error',
        time: 0.01,
        flags: {},
        data: { message: step.message ?? 'Parameter error' },
      });
    }
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
