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

/**
 * One way of sending mail (docs/ARCHITECTURE.md "Transports"). DeliveryService knows only this
 * class: adding a transport (SMTP, …) means writing one subclass and choosing it in
 * EmailsModule's MailTransport factory. Outcomes reach the message through Postal-format
 * events: Postal sends them as webhooks; a transport that knows its own outcomes hands them
 * to the PostalEventIngress port in `afterSent`.
 */
export abstract class MailTransport {
  /** For logs and metrics (e.g. 'postal', 'sandbox', 'smtp'). */
  abstract readonly name: string;
  abstract send(message: OutgoingMessage): Promise<TransportResult>;

  /**
   * Called once the message is recorded `sent` with `result` (never before: its events must
   * find it). Postal reports through its webhooks, so by default there is nothing to do.
   */
  async afterSent(_message: OutgoingMessage, _result: TransportResult): Promise<void> {}
}
