import { Injectable, Logger } from '@nestjs/common';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { domainOf } from 'src/modules/emails/emails.service';

const MIN_AGE_S = 60;
/** Longer than the delivery job's own stale-claim wait, so the job normally recovers first. */
const ABANDONED_CLAIM_S = 600;

/** The jobId the accept path (or the retry scheduler) gave a message's current delivery. */
export function currentJobId(messageId: string, retryCount: number): string {
  return retryCount > 0 ? `${messageId}-retry-${retryCount}` : messageId;
}
const PAGE = 5000;

/**
 * The outbox sweeper (docs/ARCHITECTURE.md "Outbox sweep"): PostgreSQL is the source of truth,
 * so `queued` rows older than a minute whose job is not waiting, delayed or running are
 * enqueued again. The claim in the worker makes an extra job harmless: a message is never sent
 * twice.
 */
@Injectable()
export class OutboxService {
  private readonly logger = new Logger(OutboxService.name);

  constructor(
    private readonly logs: MessageReadsRepository,
    private readonly transitions: TransitionsRepository,
    private readonly producer: EmailDeliveryProducer,
  ) {}

  async sweep(): Promise<number> {
    // Claims abandoned by a worker that died mid-send go back to `queued` (and so below).
    const reset = await this.transitions.requeueAbandonedClaims(ABANDONED_CLAIM_S);
    if (reset > 0)
      this.logger.warn(`outbox sweep: ${reset} abandoned claim(s) returned to the queue`);
    let total = 0;
    let offset = 0;
    for (;;) {
      const rows = await this.logs.findStaleQueued(MIN_AGE_S, PAGE, offset);
      if (rows.length === 0) break;
      offset += rows.length;
      const requeued = await this.producer.requeueIfNoLiveJob(
        rows.map((r) => ({
          messageId: r.messageId,
          sendAt: r.sendAt,
          domain: domainOf(r.recipient),
          stream: r.stream,
          jobId: currentJobId(r.messageId, r.retryCount),
        })),
      );
      total += requeued;
      if (rows.length < PAGE) break;
    }
    if (total > 0) this.logger.log(`outbox sweep: ${total} queued message(s) handed to the queue`);
    return total;
  }
}
