import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Agent, request } from 'undici';
import { AppConfig } from 'src/config/app-config';

/** Body of Postal's `POST /api/v1/send/message` (README "Postal set-up"). */
export interface PostalSendMessage {
  to: string[];
  cc?: string[];
  bcc?: string[];
  from: string;
  sender?: string;
  subject: string;
  tag?: string;
  reply_to?: string;
  plain_body?: string;
  html_body?: string;
  attachments?: Array<{ name: string; content_type: string; data: string }>;
  headers?: Record<string, string>;
  bounce?: boolean;
}

/**
 * Body of Postal's `POST /api/v1/send/raw` (postalserver/postal
 * app/controllers/legacy_api/send_controller.rb `raw`): the envelope and the whole message.
 */
export interface PostalSendRaw {
  /** The envelope sender (MAIL FROM). */
  mail_from: string;
  /** Envelope recipients: Postal stores one message per address. */
  rcpt_to: string[];
  /** The RFC 5322 message, base64. */
  data: string;
  bounce?: boolean;
}

export interface PostalSendResult {
  /** RFC Message-ID Postal assigned, `<uuid>@<rp-domain>`. */
  messageId: string;
  messages: Record<string, { id: number; token: string }>;
}

/** Postal answered, but not with success (HTTP 200 with status error/parameter-error). */
export class PostalApiError extends Error {
  constructor(
    readonly status: 'error' | 'parameter-error',
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PostalApiError';
  }
}

/** Postal could not be reached or answered garbage (network, timeout, HTTP 5xx, non-JSON). */
export class PostalUnavailableError extends Error {
  constructor(
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'PostalUnavailableError';
  }
}

interface PostalEnvelope {
  status?: string;
  data?: Record<string, unknown>;
}

/**
 * Postal's server HTTP API. One keep-alive connection pool per process (provided once, by
 * PostalModule), closed when the application shuts down. Postal answers HTTP 200 for failures
 * too: the JSON `status` says `success`, `error` or `parameter-error`.
 */
@Injectable()
export class PostalClient implements OnApplicationShutdown {
  private readonly agent: Agent;

  constructor(private readonly config: AppConfig) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: Math.max(16, config.workerConcurrency),
      pipelining: 1,
    });
  }

  get configured(): boolean {
    return Boolean(this.config.postal.url && this.config.postal.apiKey);
  }

  async sendMessage(message: PostalSendMessage): Promise<PostalSendResult> {
    const data = await this.call('/api/v1/send/message', message);
    const messages = (data.messages ?? {}) as PostalSendResult['messages'];
    return { messageId: String(data.message_id ?? ''), messages };
  }

  /**
   * A whole MIME message (README "How mail flows"). Postal answers `message_id` (the
   * Message-ID header of the data, without brackets) and `{rcpt: {id, token}}`.
   */
  async sendRaw(message: PostalSendRaw): Promise<PostalSendResult> {
    const data = await this.call('/api/v1/send/raw', message);
    const messages = (data.messages ?? {}) as PostalSendResult['messages'];
    return { messageId: String(data.message_id ?? ''), messages };
  }

  /** A message with the requested expansions, e.g. `['plain_body']` (used for bounces). */
  async getMessage(id: number, expansions: string[]): Promise<Record<string, unknown>> {
    return this.call('/api/v1/messages/message', { id, _expansions: expansions });
  }

  /**
   * A message exactly as Postal stored it: the `raw_message` expansion of
   * `POST /api/v1/messages/message` (Base64 with line breaks). Null when Postal no longer has
   * its raw data (it then answers the empty `"\r\n\r\n"`). Throws PostalApiError
   * (`MessageNotFound`, …) or PostalUnavailableError like every call.
   */
  async getRawMessage(id: number): Promise<Buffer | null> {
    const data = await this.getMessage(id, ['raw_message']);
    const encoded = typeof data.raw_message === 'string' ? data.raw_message : '';
    const raw = Buffer.from(encoded.replace(/\s+/g, ''), 'base64');
    return raw.toString('latin1').trim() === '' ? null : raw;
  }

  /**
   * A harmless authenticated read that proves the API key (the doctor): Postal's
   * `messages/message` with an id no message has. Postal authenticates first
   * (app/controllers/legacy_api/base_controller.rb `authenticate_as_server`: AccessDenied,
   * InvalidServerAPIKey, ServerSuspended) and only then looks the id up, so `MessageNotFound`
   * (messages_controller.rb) means the key was accepted. Resolves when it was; throws
   * PostalApiError (the key or server refused) or PostalUnavailableError otherwise.
   */
  async verifyCredentials(): Promise<void> {
    try {
      await this.call('/api/v1/messages/message', { id: 0 });
    } catch (err) {
      if (err instanceof PostalApiError && err.code === 'MessageNotFound') return;
      throw err;
    }
  }

  private async call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const { url, apiKey } = this.config.postal;
    if (!url || !apiKey)
      throw new PostalUnavailableError('Postal is not configured (POSTAL_URL, POSTAL_API_KEY)');
    let statusCode: number;
    let text: string;
    try {
      // undici.request rather than fetch: no web-stream machinery on the hot path.
      const res = await request(`${url}${path}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'x-server-api-key': apiKey },
        body: JSON.stringify(body),
        headersTimeout: this.config.postal.timeoutMs,
        bodyTimeout: this.config.postal.timeoutMs,
      });
      statusCode = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new PostalUnavailableError(
        `Postal request failed: ${code ?? (err as Error).name}: ${(err as Error).message}`,
      );
    }
    if (statusCode >= 500 || statusCode === 429) {
      throw new PostalUnavailableError(`Postal answered HTTP ${statusCode}`, statusCode);
    }
    let envelope: PostalEnvelope;
    try {
      envelope = JSON.parse(text) as PostalEnvelope;
    } catch {
      throw new PostalUnavailableError(
        `Postal answered HTTP ${statusCode} with a non-JSON body`,
        statusCode,
      );
    }
    if (envelope.status === 'success') return envelope.data ?? {};
    const data = envelope.data ?? {};
    if (envelope.status === 'error' || envelope.status === 'parameter-error') {
      throw new PostalApiError(
        envelope.status,
        String(data.code ?? (envelope.status === 'parameter-error' ? 'ParameterError' : 'Error')),
        String(data.message ?? 'no message'),
      );
    }
    throw new PostalUnavailableError(
      `Postal answered HTTP ${statusCode} with status ${String(envelope.status)}`,
      statusCode,
    );
  }

  /** Closes the pool: waits for requests in flight, then refuses new ones. Idempotent. */
  async close(): Promise<void> {
    if (!this.agent.closed) await this.agent.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}
