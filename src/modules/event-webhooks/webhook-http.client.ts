import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { isIP, type Socket } from 'node:net';
import { Agent, buildConnector, request } from 'undici';
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
 * a redirect (a 3xx is an answer like any other), gives up after WEBHOOK_TIMEOUT_MS (10 s),
 * reads at most 1 KB of the answer, and — unless WEBHOOK_ALLOW_PRIVATE_NETWORKS — refuses
 * private, loopback, link-local and metadata addresses twice: in the DNS lookup the socket
 * uses, and on the address the socket actually connected to (so a DNS answer that changes
 * between a check and the connect, or an IP literal, cannot get through).
 */
@Injectable()
export class WebhookHttpClient implements OnApplicationShutdown {
  private readonly agent: Agent;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;

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

  async post(url: string, headers: Record<string, string>, body: string): Promise<PostResult> {
    const started = performance.now();
    const done = (r: Omit<PostResult, 'durationMs'>): PostResult => ({
      ...r,
      durationMs: Math.round(performance.now() - started),
    });
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (!this.allowPrivate && isIP(host) && isBlockedAddress(host)) {
      return done({ status: null, body: null, error: new BlockedAddressError(host, host).message });
    }
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        dispatcher: this.agent,
        maxRedirections: 0,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        chunks.push(b);
        size += b.length;
        // Stop reading (and drop the connection) past the snippet: a huge answer costs nothing.
        if (size >= RESPONSE_SNIPPET_BYTES) break;
      }
      const snippet = Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES);
      return done({ status: res.statusCode, body: snippet.toString('utf8'), error: null });
    } catch (err) {
      return done({ status: null, body: null, error: describe(err, this.timeoutMs) });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close().catch(() => undefined);
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
