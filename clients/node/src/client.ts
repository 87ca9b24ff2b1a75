/**
 * A small typed client for the Email Sender API (README "API overview"): the types are
 * generated from the OpenAPI document by openapi-typescript (`schema.ts`, checked by the
 * contract test in test/contract/), requests go through openapi-fetch. It adds what every
 * caller otherwise writes by hand:
 * - the bearer API key on every request;
 * - an `Idempotency-Key` on every send and batch (unless you pass one), so a retry can never
 *   send twice: the server replays the first answer (`Idempotent-Replayed: true`);
 * - retries on 429 and 503, waiting what `Retry-After` says (else 1 s, 2 s, 4 s, …).
 */
import { randomUUID } from 'node:crypto';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };
/** The document's schemas by name: `Schemas['SendEmailDto']`, … */
export type Schemas = components['schemas'];
export type EmailSenderClient = Client<paths>;

export interface EmailSenderClientOptions {
  /** The service's base URL (its PUBLIC_URL), e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** An API key, `esk_…`. */
  apiKey: string;
  /** Retries after a 429 or 503 (default 3). */
  maxRetries?: number;
  /** The longest wait before a retry, whatever Retry-After asks (default 60 s). */
  maxRetryDelayMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: (request: Request) => Promise<Response>;
  /** How to wait (tests inject a clock). */
  sleep?: (ms: number) => Promise<void>;
  /** Makes idempotency keys (default: a random UUID). */
  idempotencyKey?: () => string;
}

/** Routes that take an Idempotency-Key (README "Sending"). */
const IDEMPOTENT_ROUTES = new Set(['/api/v1/send', '/api/v1/batch']);
const RETRY_STATUSES = new Set([429, 503]);

/** Milliseconds a Retry-After value asks for (seconds or an HTTP date), or null. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A fetch that retries 429 and 503 answers, honouring Retry-After. */
export function retryingFetch(options: {
  fetch: (request: Request) => Promise<Response>;
  maxRetries: number;
  maxRetryDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}): (request: Request) => Promise<Response> {
  return async (request) => {
    for (let attempt = 0; ; attempt++) {
      // A body can be read once: each attempt sends a copy.
      const response = await options.fetch(request.clone());
      if (!RETRY_STATUSES.has(response.status) || attempt >= options.maxRetries) return response;
      const wait = retryAfterMs(response.headers.get('Retry-After')) ?? 1000 * 2 ** attempt;
      await response.body?.cancel();
      await options.sleep(Math.min(wait, options.maxRetryDelayMs));
    }
  };
}

export function createEmailSenderClient(options: EmailSenderClientOptions): EmailSenderClient {
  const baseFetch = options.fetch ?? ((request: Request) => fetch(request));
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: { Authorization: `Bearer ${options.apiKey}` },
    fetch: retryingFetch({
      fetch: baseFetch,
      maxRetries: options.maxRetries ?? 3,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 60_000,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    }),
  });
  const makeKey = options.idempotencyKey ?? randomUUID;
  const idempotency: Middleware = {
    onRequest({ request, schemaPath }) {
      if (IDEMPOTENT_ROUTES.has(schemaPath) && !request.headers.has('Idempotency-Key')) {
        request.headers.set('Idempotency-Key', makeKey());
      }
      return request;
    },
  };
  client.use(idempotency);
  return client;
}
