import { Injectable } from '@nestjs/common';
import { MessageNotPendingError, NotFoundError } from 'src/common/errors/app-error';
import { BatchRepository } from 'src/modules/emails/batch.repository';
import {
  BatchCanceledResponseDto,
  MessageCanceledResponseDto,
  MessageRescheduledResponseDto,
} from 'src/modules/emails/dto/message-control.dto';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Cancel and reschedule (README "Cancel and reschedule"): a message not yet handed to the
 * provider (queued, scheduled, retry_scheduled) can be canceled — final status `canceled`, a
 * published transition like the others — or, while `queued`, given another `send_at`. The
 * database decides under row locks, so a message a worker has claimed is never canceled: the
 * caller gets `message_not_pending` with its status. Every statement acts on all delivery rows
 * of an API message id.
 */
@Injectable()
export class CancelService {
  constructor(
    private readonly transitions: TransitionsRepository,
    private readonly reads: MessageReadsRepository,
    private readonly batches: BatchRepository,
    private readonly producer: EmailDeliveryProducer,
  ) {}

  /** DELETE /api/v1/messages/:message_id. Canceling a canceled message answers the same. */
  async cancel(messageId: string): Promise<MessageCanceledResponseDto> {
    const id = this.messageIdOf(messageId);
    const rows = await this.transitions.cancelMessage(id, { source: 'api' });
    if (rows.length === 0) throw new NotFoundError(`Message ${messageId} not found`);
    const blocking = rows.find((r) => !r.canceled && r.status !== 'canceled');
    if (rows.some((r) => r.canceled)) await this.producer.removeJobs([id]);
    if (blocking && !rows.some((r) => r.canceled)) {
      throw new MessageNotPendingError('canceled', blocking.status);
    }
    return { message_id: id, status: 'canceled' };
  }

  /** PATCH /api/v1/messages/:message_id `{send_at}`: only while the message is `queued`. */
  async reschedule(messageId: string, sendAtIso: string): Promise<MessageRescheduledResponseDto> {
    const id = this.messageIdOf(messageId);
    const at = new Date(sendAtIso);
    const sendAt = at.getTime() > Date.now() ? at : null;
    const rows = await this.transitions.rescheduleMessage(id, sendAt);
    if (rows.length === 0) throw new NotFoundError(`Message ${messageId} not found`);
    const moved = rows.find((r) => r.rescheduled);
    if (!moved) throw new MessageNotPendingError('rescheduled', rows[0].status);
    await this.producer.reschedule({
      messageId: id,
      sendAt,
      domain: moved.recipient_domain,
      stream: moved.stream,
    });
    return { message_id: id, status: 'queued', send_at: sendAt ? sendAt.toISOString() : null };
  }

  /**
   * POST /api/v1/batches/:batch_id/cancel: what is left of the batch. Messages a worker holds
   * at that moment are not canceled; the counts by status say where everything stands.
   */
  async cancelBatch(batchId: string): Promise<BatchCanceledResponseDto> {
    const batch = UUID.test(batchId) ? await this.batches.find(batchId.toLowerCase()) : null;
    if (!batch) throw new NotFoundError(`Batch ${batchId} not found`);
    const canceled = await this.transitions.cancelBatch(batch.id, { source: 'api', batch: true });
    await this.producer.removeJobs(canceled);
    return {
      batch_id: batch.id,
      canceled: canceled.length,
      by_status: await this.reads.countByStatusForBatch(batch.id),
    };
  }

  private messageIdOf(messageId: string): string {
    if (!UUID.test(messageId)) throw new NotFoundError(`Message ${messageId} not found`);
    return messageId.toLowerCase();
  }
}
