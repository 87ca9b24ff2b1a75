import { randomBytes } from 'node:crypto';
import {
  createServer,
  IncomingHttpHeaders,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** What a test can make the next `POST /v1/messages` request(s) answer. */
export type AnthropicScript =
  /** A `tool_use` answer (stop_reason `tool_use`); `name` defaults to the forced tool. */
  | { kind: 'tool'; input: unknown; name?: string; text?: string }
  /** A text-only answer (stop_reason `end_turn`, or the one given). */
  | { kind: 'text'; text: string; stopReason?: 'end_turn' | 'max_tokens' | 'refusal' }
  /** An error in the API's shape; `status` defaults from the type (429, 500, 529, 401, 400). */
  | { kind: 'error'; type: AnthropicErrorType; status?: number; message?: string }
  /** Waits `ms` before answering with `then` (default: the default tool answer). */
  | { kind: 'slow'; ms: number; then?: Exclude<AnthropicScript, { kind: 'slow' }> };

export interface RecordedAnthropicRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: MessagesRequestBody | undefined;
  raw: string;
}

/** The parts of a Messages API request the fake looks at. */
export interface MessagesRequestBody {
  model: string;
  max_tokens: number;
  system?: unknown;
  messages: Array<{ role: string; content: unknown }>;
  tools?: Array<{ name: string; description?: string; input_schema: Record<string, unknown> }>;
  tool_choice?: { type: string; name?: string };
  [key: string]: unknown;
}

const STATUS_BY_ERROR: Record<AnthropicErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

const MESSAGE_BY_ERROR: Record<AnthropicErrorType, string> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  rate_limit_error:
    'This request would exceed the rate limit for your organization of 50 requests per minute.',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

/** A diagnosis that passes `parseDiagnosis`, used when a test scripts nothing. */
export const FAKE_DIAGNOSIS = {
  summary: 'Bounce rate at gmail.com is critical: a purchased or stale list segment.',
  root_cause: 'Most bounces are 550 5.1.1 user unknown at gmail.com from one campaign.',
  analysis: 'gmail.com accounts for 80 % of hard bounces; other domains are normal.',
  actions: ['Pause the campaign sending to gmail.com', 'Re-verify the list segment'],
  should_pause_sending: true,
  urgency: 'critical',
} as const;

const id = (prefix: string): string => `${prefix}_01${randomBytes(12).toString('hex')}`;

/**
 * A local Anthropic Messages API (`POST /v1/messages`) speaking the real wire format: message
 * objects with `tool_use` / `text` content blocks and `usage`, errors as
 * `{type:"error", error:{type, message}}` with a `request-id` header. Point the SDK at it
 * with `ANTHROPIC_BASE_URL = fake.url` (the SDK appends `/v1/messages`).
 *
 * Auth: the real API takes the key in `x-api-key`; SDK 1.x sends `Authorization: Bearer`.
 * Both are accepted, anything else is a 401 `authentication_error`. `anthropic-version` is
 * required (400 without it), as on the real API.
 */
export class FakeAnthropic {
  readonly apiKey = `sk-ant-fake-${randomBytes(8).toString('hex')}`;
  /** Every request received, in order, answered or not. */
  readonly requests: RecordedAnthropicRequest[] = [];
  url = '';
  private readonly script: AnthropicScript[] = [];
  private server?: Server;
  private readonly sleeping = new Set<() => void>();

  /** The next requests follow these steps, then the default tool answer again. */
  queueResponses(...steps: AnthropicScript[]): this {
    this.script.push(...steps);
    return this;
  }

  /** Bodies of the `POST /v1/messages` requests received. */
  get bodies(): MessagesRequestBody[] {
    return this.requests.flatMap((r) => (r.body ? [r.body] : []));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const wake of this.sleeping) wake();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** Waits `ms`, or less if the client hangs up or the fake stops (no timer outlives it). */
  private delay(ms: number, res: ServerResponse): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleeping.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeping.add(wake);
      res.once('close', wake);
    });
  }

  private send(res: ServerResponse, status: number, body: unknown, extra = {}): void {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'request-id': id('req'),
      ...extra,
    });
    res.end(JSON.stringify(body));
  }

  private error(res: ServerResponse, type: AnthropicErrorType, status?: number, message?: string) {
    const code = status ?? STATUS_BY_ERROR[type];
    const extra = code === 429 ? { 'retry-after': '30' } : {};
    this.send(
      res,
      code,
      {
        type: 'error',
        error: { type, message: message ?? MESSAGE_BY_ERROR[type] },
        request_id: id('req'),
      },
      extra,
    );
  }

  private authorised(headers: IncomingHttpHeaders): boolean {
    const bearer = /^Bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1];
    return headers['x-api-key'] === this.apiKey || bearer === this.apiKey;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: MessagesRequestBody | undefined;
    try {
      body = JSON.parse(raw) as MessagesRequestBody;
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '').split('?')[0];
    this.requests.push({ method: req.method ?? '', path, headers: req.headers, body, raw });

    if (req.method !== 'POST' || path !== '/v1/messages') {
      return this.send(res, 404, {
        type: 'error',
        error: { type: 'not_found_error', message: 'Not found' },
      });
    }
    if (!this.authorised(req.headers)) return this.error(res, 'authentication_error');
    if (!req.headers['anthropic-version']) {
      return this.error(res, 'invalid_request_error', 400, 'anthropic-version: header is required');
    }
    const invalid = this.validate(body);
    if (invalid) return this.error(res, 'invalid_request_error', 400, invalid);

    let step = this.script.shift();
    if (step?.kind === 'slow') {
      await this.delay(step.ms, res);
      // The client gave up (timeout): nobody is left to answer.
      if (res.destroyed || req.socket.destroyed) return;
      step = step.then;
    }
    if (step?.kind === 'error') return this.error(res, step.type, step.status, step.message);
    this.send(res, 200, this.message(body!, step));
  }

  /** The checks of the real API that a client bug would trip. */
  private validate(body: MessagesRequestBody | undefined): string | null {
    if (!body || typeof body !== 'object') return 'request body is not valid JSON';
    if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
    if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
      return 'max_tokens: Field required';
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return 'messages: Field required';
    }
    const choice = body.tool_choice;
    if (choice?.type === 'tool' && !(body.tools ?? []).some((t) => t.name === choice.name)) {
      return `tool_choice: tool '${String(choice.name)}' not found in tools`;
    }
    return null;
  }

  private message(
    body: MessagesRequestBody,
    step: Exclude<AnthropicScript, { kind: 'slow' } | { kind: 'error' }> | undefined,
  ): Record<string, unknown> {
    const forced =
      body.tool_choice?.type === 'tool' ? body.tool_choice.name : body.tools?.[0]?.name;
    const s = step ?? { kind: 'tool' as const, input: FAKE_DIAGNOSIS };
    const content: Array<Record<string, unknown>> = [];
    if (s.kind === 'tool') {
      if (s.text) content.push({ type: 'text', text: s.text, citations: null });
      content.push({
        type: 'tool_use',
        id: id('toolu'),
        name: s.name ?? forced ?? 'tool',
        input: s.input,
        caller: { type: 'direct' },
      });
    } else {
      content.push({ type: 'text', text: s.text, citations: null });
    }
    const outputTokens = Math.max(1, Math.ceil(JSON.stringify(content).length / 4));
    return {
      id: id('msg'),
      type: 'message',
      role: 'assistant',
      model: body.model,
      content,
      stop_reason: s.kind === 'tool' ? 'tool_use' : (s.stopReason ?? 'end_turn'),
      stop_sequence: null,
      stop_details: null,
      container: null,
      usage: {
        input_tokens: Math.max(1, Math.ceil(JSON.stringify(body).length / 4)),
        output_tokens: outputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        service_tier: 'standard',
      },
    };
  }
}
