import { randomUUID } from 'node:crypto';
import type { PostalEnvelope } from 'src/common/ports/postal-event-ingress';
import type { OutgoingMessage, TransportResult } from 'src/modules/emails/transport/mail-transport';

/** `<outcome>@simulator.test` (any `+tag`) picks what the sandbox reports (README). */
export const SIMULATOR_DOMAIN = 'simulator.test';

export interface SandboxOutcome {
  /** Postal-format webhook envelopes, in the order Postal would send them. */
  events: PostalEnvelope[];
  /** Then a feedback-loop complaint (Postal has no webhook for it: it comes as ARF mail). */
  complaint: boolean;
}

/**
 * The events a Postal server would send for a message the sandbox "sent", built as Postal
 * builds them: the delivery hash `{message, status, details, output, sent_with_ssl,
 * timestamp, time}` (postalserver/postal lib/postal/message_db/delivery.rb `webhook_hash`)
 * around the message hash (lib/postal/message_db/message.rb `webhook_hash`), in Postal's
 * envelope `{event, timestamp, payload, uuid}` (app/models/webhook_request.rb). The message
 * is named by the id and token the sandbox returned, as Postal's are.
 */
export function sandboxOutcome(
  m: OutgoingMessage,
  result: TransportResult,
  now = new Date(),
): SandboxOutcome {
  const at = now.getTime() / 1000;
  const atSign = m.to.lastIndexOf('@');
  const [local, domain] = [m.to.slice(0, atSign), m.to.slice(atSign + 1).toLowerCase()];
  const outcome = domain === SIMULATOR_DOMAIN ? local.split('+')[0].toLowerCase() : 'delivered';
  const message = {
    id: result.providerMessageId,
    token: result.providerToken,
    direction: 'outgoing',
    message_id: result.postalMessageId?.replace(/^<|>$/g, '') ?? null,
    to: m.to,
    from: m.from,
    subject: m.subject,
    timestamp: at,
    spam_status: 'NotChecked',
    tag: m.tag ?? null,
  };
  const event = (name: string, status: string, output: string, details: string) => ({
    uuid: randomUUID(),
    event: name,
    timestamp: at,
    payload: { message, status, details, output, sent_with_ssl: true, timestamp: at, time: 0.1 },
  });
  const sent = () => event('MessageSent', 'Sent', '250 OK', 'Message accepted (sandbox)');

  switch (outcome) {
    case 'bounce':
      return {
        events: [
          event(
            'MessageDeliveryFailed',
            'HardFail',
            '550 5.1.1 user unknown',
            `Permanent SMTP delivery error when sending to ${m.to}`,
          ),
        ],
        complaint: false,
      };
    case 'softbounce':
      return {
        events: [
          event(
            'MessageDeliveryFailed',
            'HardFail',
            '452 4.2.2 mailbox full',
            `Temporary SMTP delivery error when sending to ${m.to}`,
          ),
        ],
        complaint: false,
      };
    case 'delay':
      return {
        events: [
          event(
            'MessageDelayed',
            'SoftFail',
            '421 4.7.0 try again later',
            'Temporary SMTP delivery error; will retry',
          ),
        ],
        complaint: false,
      };
    case 'complaint':
      return { events: [sent()], complaint: true };
    default:
      return { events: [sent()], complaint: false };
  }
}
