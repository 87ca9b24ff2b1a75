import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { isIP, type Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { AppConfig } from 'src/config/app-config';
import {
  BlockedAddressError,
  guardedLookup,
  isBlockedAddress,
} from 'src/modules/event-webhooks/network-policy';

/** At most this much of an answer's body is read and kept (README "Event webhooks"). */
export const RESPONSE_SNIPPET_BYTES = 1024;

export interface PostResult {
  /** The HTTP status, or null when no answer came (refused, timeout, blocked address). */
  status: number | null;
  /** Up to 1 KB of the body, as text. */
  body: string | null;
  durationMs: number;
  /** Why no answer came; null when one did. */
  error: string | null;
}

/**
 * POSTs event webhooks to customers' URLs (README "Security": event webhooks). Never follows
 * a redirect (a 3xx is an answer like any other), gives up WEBHOOK_TIMEOUT_MS (10 s) after the
 * request was handed over, whatever it is waiting for (the connection, the answer's headers
 * or its body), reads at most 1 KB of the answer, and — unless WEBHOOK_ALLOW_PRIVATE_NETWORKS —
 * refuses private, loopback, link-local and metadata addresses twice: in the DNS lookup the
 * socket uses, and on the address the socket actually connected to (so a DNS answer that
 * changes between a check and the connect, or an IP literal, cannot get through).
 *
 * It drives undici's `dispatch` with a handler of its own rather than `request()`: no body
 * stream is built for an answer of a few bytes, and the deadline is one timer for every request
 * in flight (DeadlineQueue) instead of an AbortSignal each, whose listener plumbing cost more
 * than the rest of the request on the fan-out's hot path (docs/ARCHITECTURE.md "Event webhooks").
 */
@Injectable()
export class WebhookHttpClient implements OnApplicationShutdown {
  private readonly agent: Agent;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;
  private readonly deadlines = new DeadlineQueue();
  /** Parsed URLs (an endpoint's URL is the same on every delivery). */
  private readonly targets = new Map<string, Target>();

  constructor(config: AppConfig) {
    this.allowPrivate = config.eventWebhooks.allowPrivateNetworks;
    this.timeoutMs = config.eventWebhooks.timeoutMs;
    const connectTimeout = this.timeoutMs;
    const base = buildConnector({
      timeout: connectTimeout,
      ...(this.allowPrivate ? {} : { lookup: guardedLookup }),
    });
    const connect: buildConnector.connector = (opts, callback) => {
      base(opts, (err, socket) => {
        if (err) return callback(err, null);
        const address = (socket as Socket).remoteAddress ?? '';
        if (!this.allowPrivate && isBlockedAddress(address)) {
          socket.destroy();
          return callback(new BlockedAddressError(opts.hostname, address || 'unknown'), null);
        }
        callback(null, socket);
      });
    };
    this.agent = new Agent({
      connect,
      keepAliveTimeout: 4000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  post(url: string, headers: Record<string, string>, body: string): Promise<PostResult> {
    const started = performance.now();
    const target = this.target(url);
    if (typeof target === 'string') {
      return Promise.resolve({ status: null, body: null, durationMs: 0, error: target });
    }
    return new Promise<PostResult>((resolve) => {
      const call = new PostCall(started, started + this.timeoutMs, this.timeoutMs, resolve);
      this.deadlines.add(call);
      try {
        this.agent.dispatch(
          {
            origin: target.origin,
            path: target.path,
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body,
          },
          call,
        );
      } catch (err) {
        call.onError(err as Error);
      }
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.deadlines.close();
    await this.agent.close().catch(() => undefined);
  }

  /** The URL's origin and path, or why it may not be posted to. */
  private target(url: string): Target | string {
    let t = this.targets.get(url);
    if (t !== undefined) return t;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `invalid URL: ${url.slice(0, 200)}`;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (!this.allowPrivate && isIP(host) && isBlockedAddress(host)) {
      return new BlockedAddressError(host, host).message;
    }
    t = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (this.targets.size >= 10_000) this.targets.clear();
    this.targets.set(url, t);
    return t;
  }
}

interface Target {
  origin: string;
  path: string;
}

/** Thrown into a request that is still running at its deadline. */
class DeadlineError extends Error {
  override readonly name = 'TimeoutError';
}

/** Ends a request whose answer passed RESPONSE_SNIPPET_BYTES (its connection is dropped). */
class SnippetComplete extends Error {}

/**
 * One POST: undici's dispatch handler, settled once — by the answer, an error, or its deadline,
 * whichever comes first; whatever undici reports after that is ignored.
 */
class PostCall implements Dispatcher.DispatchHandlers {
  settled = false;
  private abort: ((err?: Error) => void) | null = null;
  private status: number | null = null;
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly started: number,
    readonly deadline: number,
    private readonly timeoutMs: number,
    private resolve: ((r: PostResult) => void) | null,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    // Past its deadline while it waited for a connection: not sent at all.
    if (this.settled) abort(new DeadlineError());
    else this.abort = abort;
  }

  onHeaders(statusCode: number): boolean {
    // 1xx answers are interim; the final status follows.
    if (statusCode >= 200) this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Stop reading (and drop the connection) past the snippet: a huge answer costs nothing.
    if (this.size >= RESPONSE_SNIPPET_BYTES) {
      this.answered();
      this.abort?.(new SnippetComplete());
    }
    return true;
  }

  onComplete(): void {
    this.answered();
  }

  onError(err: Error): void {
    this.settle(null, null, describe(err, this.timeoutMs));
  }

  /** The deadline passed (DeadlineQueue): a timeout, and the request is aborted if it runs. */
  expire(): void {
    if (this.settled) return;
    this.settle(null, null, `timed out after ${this.timeoutMs} ms`);
    this.abort?.(new DeadlineError());
  }

  private answered(): void {
    const snippet =
      this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.settle(
      this.status,
      snippet.subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8'),
      this.status === null ? 'no status in the answer' : null,
    );
  }

  private settle(status: number | null, body: string | null, error: string | null): void {
    if (this.settled) return;
    this.settled = true;
    const resolve = this.resolve!;
    this.resolve = null;
    this.chunks = [];
    resolve({
      status,
      body: status === null ? null : body,
      durationMs: Math.round(performance.now() - this.started),
      error,
    });
  }
}

/**
 * The deadlines of the requests in flight, in one timer. Every request gets the same timeout,
 * so the order they were added in is the order their deadlines fall in: a FIFO whose head is
 * the next to expire. Settled requests are dropped from the head as the timer passes them.
 */
export class DeadlineQueue {
  private queue: Array<{ settled: boolean; deadline: number; expire(): void }> = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  add(call: { settled: boolean; deadline: number; expire(): void }): void {
    this.queue.push(call);
    if (!this.timer && !this.closed) this.arm();
  }

  /** Stops the timer (shutdown); requests still in flight end with the agent. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly fire = (): void => {
    this.timer = null;
    const now = performance.now();
    while (this.head < this.queue.length) {
      const call = this.queue[this.head];
      if (!call.settled && call.deadline > now) break;
      this.head++;
      if (!call.settled) call.expire();
    }
    if (!this.closed) this.arm();
  };

  private arm(): void {
    while (this.head < this.queue.length && this.queue[this.head].settled) this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    const wait = Math.max(0, this.queue[this.head].deadline - performance.now());
    this.timer = setTimeout(this.fire, wait);
    this.timer.unref();
  }
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: Error; code?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || /timeout/i.test(e?.name ?? '')) {
    return `timed out after ${timeoutMs} ms`;
  }
  const inner = e?.cause instanceof Error ? e.cause : e;
  return String(inner?.message ?? err).slice(0, 500);
}
