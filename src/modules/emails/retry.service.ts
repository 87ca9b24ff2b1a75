import { Injectable, Logger } from '@nestjs/common';
import { BlacklistService, normalizeEmail } from 'src/modules/blacklist/blacklist.service';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { domainOf } from 'src/modules/emails/emails.service';
import { currentJobId } from 'src/modules/emails/outbox.service';

const PAGE = 1000;

/**
 * Soft-bounce retries (docs/ARCHITECTURE.md "Soft-bounce retries"): every 5 minutes, due
 * `retry_scheduled` messages whose recipient is now suppressed fail ("Recipient
 * blacklisted"); the rest go back through the pipeline with a fresh job (the first job of the
 * message is kept by BullMQ for a while).
 */
@Injectable()
export class RetryService {
  private readonly logger = new Logger(RetryService.name);

  constructor(
    private readonly logs: MessageReadsRepository,
    private readonly transitions: TransitionsRepository,
    private readonly blacklist: BlacklistService,
    private readonly producer: EmailDeliveryProducer,
  ) {}

  async requeueDue(): Promise<{ requeued: number; suppressed: number }> {
    let requeued = 0;
    let suppressed = 0;
    for (;;) {
      const due = await this.logs.dueRetryRecipients(PAGE);
      if (due.length === 0) break;
      // Suppressed for the message's own stream (README "Streams").
      const blocked = {
        transactional: await this.blacklist.findSuppressed(
          due.filter((d) => d.stream === 'transactional').map((d) => d.recipient),
          'transactional',
        ),
        broadcast: await this.blacklist.findSuppressed(
          due.filter((d) => d.stream === 'broadcast').map((d) => d.recipient),
          'broadcast',
        ),
      };
      for (const d of due) {
        if (blocked[d.stream].has(normalizeEmail(d.recipient))) {
          await this.transitions.markFailed(d.id, 'Recipient blacklisted');
          suppressed += 1;
        }
      }
      const rows = await this.transitions.requeueDueRetries(PAGE);
      await this.producer.enqueueStrict(
        rows.map((r) => ({
          messageId: r.messageId,
          sendAt: null,
          domain: domainOf(r.recipient),
          stream: r.stream,
          jobId: currentJobId(r.messageId, r.retryCount),
        })),
      );
      requeued += rows.length;
      if (rows.length < PAGE && due.length < PAGE) break;
    }
    if (requeued + suppressed > 0)
      this.logger.log(`soft-bounce retries: ${requeued} re-queued, ${suppressed} now suppressed`);
    return { requeued, suppressed };
  }
}
