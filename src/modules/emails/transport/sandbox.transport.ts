import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  MailTransport,
  OutgoingMessage,
  TransportResult,
} from 'src/modules/emails/transport/mail-transport';

/**
 * The embedded default (SPEC §8): no mail leaves the machine. The rendered message is kept
 * with the log so it can be read back; outcomes are reported by the delivery service through
 * the same state transitions Postal's webhooks cause.
 */
@Injectable()
export class SandboxTransport extends MailTransport {
  readonly name = 'sandbox' as const;

  async send(m: OutgoingMessage): Promise<TransportResult> {
    return {
      providerMessageId: `sandbox-${randomUUID()}`,
      providerToken: randomUUID().replace(/-/g, '').slice(0, 16),
      postalMessageId: `<${m.messageId}@sandbox.local>`,
      storedCopy: { subject: m.subject, html: m.html, text: m.text, headers: m.headers },
    };
  }
}
