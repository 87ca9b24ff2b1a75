import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { PostalEventIngress } from 'src/common/ports/postal-event-ingress';
import type { EmailStateService } from 'src/modules/emails/email-state.service';
import {
  MailTransport,
  OutgoingMessage,
  TransportResult,
} from 'src/modules/emails/transport/mail-transport';
import { sandboxOutcome } from 'src/modules/emails/transport/sandbox-outcomes';

/**
 * The embedded default (README, sandbox): no mail leaves the machine. The rendered message is
 * kept with the log so it can be read back. Once the message is recorded `sent`, the sandbox
 * plays Postal: it hands the Postal-format events a real server would send to the same
 * ingestion path as Postal's webhooks (the PostalEventIngress port), so the same
 * interpretation, classifier and transitions apply (docs/ARCHITECTURE.md "Transports").
 */
export class SandboxTransport extends MailTransport {
  readonly name = 'sandbox' as const;
  private readonly logger = new Logger(SandboxTransport.name);

  /** `ingress` is absent where no webhooks module runs (the CLI): nothing is reported then. */
  constructor(
    private readonly ingress: PostalEventIngress | null,
    private readonly state: EmailStateService,
  ) {
    super();
  }

  async send(m: OutgoingMessage): Promise<TransportResult> {
    return {
      providerMessageId: `sandbox-${randomUUID()}`,
      providerToken: randomUUID().replace(/-/g, '').slice(0, 16),
      postalMessageId: `<${m.messageId}@sandbox.local>`,
      storedCopy: {
        subject: m.subject,
        html: m.html,
        text: m.text,
        headers: m.headers,
        // The list, not the content: that stays content-addressed until pruned.
        ...(m.attachments?.length
          ? {
              attachments: m.attachments.map((a) => ({
                filename: a.filename,
                content_type: a.contentType,
                size: a.size,
                sha256: a.sha256,
                content_id: a.contentId,
              })),
            }
          : {}),
      },
    };
  }

  override async afterSent(m: OutgoingMessage, result: TransportResult): Promise<void> {
    if (!this.ingress) {
      this.logger.warn(`sandbox outcome for ${m.messageId} not reported: no event ingress`);
      return;
    }
    const outcome = sandboxOutcome(m, result);
    for (const envelope of outcome.events) await this.ingress.ingest(envelope, 'sandbox');
    if (outcome.complaint) {
      // A complaint reaches Postal as ARF mail, not as a webhook: the sandbox files it after
      // the delivery, as a feedback loop would.
      const target = await this.state.find({ messageId: m.messageId });
      if (target) {
        await this.state.markComplained(target, { source: 'sandbox', feedback_type: 'abuse' });
      }
    }
  }
}
