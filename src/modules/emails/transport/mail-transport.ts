import type { StoredAttachmentInfo } from 'src/modules/emails/message-details';

/** An attachment with its content, as it leaves (README "Sending": attachments). */
export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  /** Inline (referenced as `cid:` in the HTML) when set. */
  contentId: string | null;
  content: Buffer;
  size: number;
  sha256: string;
}

/** A rendered message, ready for a transport: one recipient's copy. */
export interface OutgoingMessage {
  /** The delivery record's id (`X-Email-Id`). */
  messageId: string;
  from: string;
  /** The bare recipient address: the envelope recipient of this copy (RCPT TO). */
  to: string;
  toName?: string | null;
  /**
   * The To and Cc headers of a message with several recipients (each copy shows them all;
   * Bcc never appears). Absent: To is this copy's recipient alone.
   */
  toHeader?: Array<{ address: string; name: string | null }>;
  ccHeader?: Array<{ address: string; name: string | null }>;
  /** The RFC 5322 Message-ID this copy carries, with angle brackets. */
  rfcMessageId?: string;
  attachments?: OutgoingAttachment[];
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
    attachments?: StoredAttachmentInfo[];
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
