import { Injectable } from '@nestjs/common';
import { formatMailbox, parseMailbox } from 'src/modules/emails/mailbox';
import { buildMime } from 'src/modules/emails/transport/mime-message';
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

  /**
   * One recipient's copy (docs/ARCHITECTURE.md "Transports"). A message that needs what
   * Postal's `send/message` cannot express — attachments with a Content-ID, To/Cc headers
   * listing recipients sent separately — goes as MIME we build through `send/raw`
   * (postalserver/postal app/controllers/legacy_api/send_controller.rb: the recipient as the
   * only `rcpt_to`, the From address as `mail_from`). Everything else keeps `send/message`:
   * one JSON request, no MIME to build on the worker's hot path (README "Performance").
   */
  async send(m: OutgoingMessage): Promise<TransportResult> {
    try {
      const result = needsRaw(m)
        ? await this.postal.sendRaw({
            mail_from: parseMailbox(m.from)?.address ?? m.from,
            rcpt_to: [m.to],
            data: (await buildMime(m)).toString('base64'),
          })
        : await this.postal.sendMessage({
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

/** Whether a copy must be sent as MIME through `send/raw` (see PostalTransport.send). */
export function needsRaw(m: OutgoingMessage): boolean {
  return (m.attachments?.length ?? 0) > 0 || m.toHeader !== undefined || m.ccHeader !== undefined;
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
