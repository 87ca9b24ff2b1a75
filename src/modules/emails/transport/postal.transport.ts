import { Injectable } from '@nestjs/common';
import { formatMailbox } from 'src/modules/emails/mailbox';
import {
  PostalApiError,
  PostalClient,
  PostalUnavailableError,
} from 'src/infra/postal/postal.client';
import {
  MailTransport,
  OutgoingMessage,
  TransportError,
  TransportResult,
} from 'src/modules/emails/transport/mail-transport';

/** Postal errors an operator must fix: retried (the fix may land) and alerted (README "Alerts"). */
const CREDENTIAL_ERRORS = new Set(['InvalidServerAPIKey', 'AccessDenied', 'ServerSuspended']);

@Injectable()
export class PostalTransport extends MailTransport {
  readonly name = 'postal' as const;

  constructor(private readonly postal: PostalClient) {
    super();
  }

  async send(m: OutgoingMessage): Promise<TransportResult> {
    try {
      const result = await this.postal.sendMessage({
        to: [formatMailbox({ name: m.toName ?? null, address: m.to })],
        from: m.from,
        subject: m.subject,
        ...(m.replyTo ? { reply_to: m.replyTo } : {}),
        ...(m.tag ? { tag: m.tag } : {}),
        ...(m.text !== null ? { plain_body: m.text } : {}),
        ...(m.html !== null ? { html_body: m.html } : {}),
        headers: m.headers,
      });
      const rcpt =
        result.messages[m.to] ??
        Object.entries(result.messages).find(
          ([addr]) => addr.toLowerCase() === m.to.toLowerCase(),
        )?.[1];
      if (!rcpt) {
        throw new TransportError(
          'postal: success without a message for the recipient',
          true,
          'NoRecipientResult',
        );
      }
      return {
        providerMessageId: String(rcpt.id),
        providerToken: rcpt.token ?? null,
        postalMessageId: result.messageId || null,
      };
    } catch (err) {
      throw toTransportError(err);
    }
  }
}

/** Which Postal failures are retried, which fail the message at once (README "How mail flows"). */
export function toTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  if (err instanceof PostalApiError) {
    const text = `postal: ${err.code}: ${err.message}`;
    if (CREDENTIAL_ERRORS.has(err.code)) return new TransportError(text, true, err.code, true);
    // parameter-error and message errors (NoRecipients, NoContent, FromAddressMissing,
    // UnauthenticatedFromAddress, TooMany*, Attachment*…) will not succeed on a retry.
    return new TransportError(text, false, err.code);
  }
  if (err instanceof PostalUnavailableError) {
    return new TransportError(
      err.message,
      true,
      err.httpStatus ? `HTTP${err.httpStatus}` : 'Network',
    );
  }
  return new TransportError(`postal: ${(err as Error)?.message ?? String(err)}`, true, 'Unknown');
}
