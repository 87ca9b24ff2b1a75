/** A rendered message, ready for a transport. */
export interface OutgoingMessage {
  messageId: string;
  from: string;
  /** The bare recipient address. */
  to: string;
  toName?: string | null;
  replyTo?: string | null;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  tag?: string | null;
}

export interface TransportResult {
  providerMessageId: string;
  providerToken: string | null;
  /** RFC Message-ID assigned by the mail server (Postal), for webhook matching. */
  postalMessageId: string | null;
  /** The sandbox keeps the rendered message so it can be read back. */
  storedCopy?: {
    subject: string;
    html: string | null;
    text: string | null;
    headers: Record<string, string>;
  };
}

/**
 * A transport failure. `retryable` decides between backoff and failing the message at once;
 * `credential` marks errors an operator must fix (bad API key, suspended server).
 */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: string,
    readonly credential = false,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export abstract class MailTransport {
  abstract readonly name: 'postal' | 'sandbox';
  abstract send(message: OutgoingMessage): Promise<TransportResult>;
}
