import { Injectable, Logger } from '@nestjs/common';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { EmailLogRepository } from 'src/modules/emails/email-log.repository';
import { domainOf } from 'src/modules/emails/emails.service';

const MIN_AGE_S = 60;
const PAGE = 5000;

/**
 * The outbox sweeper (SPEC §6.1): PostgreSQL is the source of truth, so `queued` rows older
 * than a minute are (re-)enqueued. jobId = message id, so a row whose job exists is a no-op.
 */
@Injectable()
export class OutboxService {
  private readonly logger = new Logger(OutboxService.name);

  constructor(
    private readonly logs: EmailLogRepository,
    private readonly producer: EmailDeliveryProducer,
  ) {}

  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.logs.findStaleQueued(MIN_AGE_S, PAGE, total);
      if (rows.length === 0) break;
      await this.producer.enqueueStrict(
        rows.map((r) => ({
          messageId: r.messageId,
          sendAt: r.sendAt,
          domain: domainOf(r.recipient),
        })),
      );
      total += rows.length;
      if (rows.length < PAGE) break;
    }
    if (total > 0) this.logger.log(`outbox sweep: ${total} queued message(s) handed to the queue`);
    return total;
  }
}
