import { Injectable } from '@nestjs/common';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import { PostalEventsService, ProcessResult } from 'src/modules/webhooks/postal-events.service';

export const SIMULATOR_DOMAIN = 'simulator.test';

/**
 * The sandbox's stand-in for Postal (SPEC §8): after a message is "sent", it produces the
 * Postal events a real server would, and runs them through the same processing as webhooks
 * (classifier and transitions included). `<outcome>@simulator.test` (any `+tag`) picks one.
 */
@Injectable()
export class SandboxSimulatorService {
  constructor(
    private readonly state: EmailStateService,
    private readonly events: PostalEventsService,
  ) {}

  async simulate(messageId: string): Promise<ProcessResult[]> {
    const target = await this.state.find({ messageId });
    if (!target) return [{ outcome: 'unmatched', error: 'unknown_message' }];
    const [local, domain] = [
      target.recipient.slice(0, target.recipient.lastIndexOf('@')),
      target.recipientDomain,
    ];
    const outcome = domain === SIMULATOR_DOMAIN ? local.split('+')[0].toLowerCase() : 'delivered';
    const message = {
      id: null,
      token: null,
      message_id: `${messageId}@sandbox`,
      to: target.recipient,
      direction: 'outgoing',
    };
    const run = (event: string, payload: Record<string, unknown>) =>
      this.events.process(event, { message, ...payload }, { source: 'sandbox', target });
    const smtp = (status: string, output: string, details: string) => ({
      status,
      output,
      details,
      sent_with_ssl: true,
      time: 0.1,
      timestamp: Date.now() / 1000,
    });

    switch (outcome) {
      case 'bounce':
        return [
          await run(
            'MessageDeliveryFailed',
            smtp(
              'HardFail',
              '550 5.1.1 user unknown',
              `Permanent SMTP delivery error when sending to ${target.recipient}`,
            ),
          ),
        ];
      case 'softbounce':
        return [
          await run(
            'MessageDeliveryFailed',
            smtp(
              'HardFail',
              '452 4.2.2 mailbox full',
              `Temporary SMTP delivery error when sending to ${target.recipient}`,
            ),
          ),
        ];
      case 'delay':
        return [
          await run(
            'MessageDelayed',
            smtp(
              'SoftFail',
              '421 4.7.0 try again later',
              `Temporary SMTP delivery error; will retry`,
            ),
          ),
        ];
      case 'complaint': {
        const sent = await run('MessageSent', smtp('Sent', '250 OK', 'Message accepted (sandbox)'));
        await this.state.markComplained(target, { source: 'sandbox', feedback_type: 'abuse' });
        return [sent, { outcome: 'complained' }];
      }
      default:
        return [await run('MessageSent', smtp('Sent', '250 OK', 'Message accepted (sandbox)'))];
    }
  }
}
