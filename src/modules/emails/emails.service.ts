import { Injectable } from '@nestjs/common';
import { NotFoundError } from 'src/common/errors/app-error';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';
import { EmailLogRepository } from 'src/modules/emails/email-log.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

@Injectable()
export class EmailsService {
  constructor(private readonly logs: EmailLogRepository) {}

  /** SPEC §4.1 status of one message with its event timeline; unknown or malformed id → 404. */
  async getStatus(messageId: string): Promise<MessageStatusResponseDto> {
    if (!UUID.test(messageId)) throw new NotFoundError(`Message ${messageId} not found`);
    const log = await this.logs.findByMessageId(messageId.toLowerCase());
    if (!log) throw new NotFoundError(`Message ${messageId} not found`);
    const events = await this.logs.eventsOf(log.id);
    const templateRef = (log.statusDetails as { template_id?: unknown } | null)?.template_id;
    return {
      message_id: log.externalMessageId,
      status: log.status,
      recipient: log.recipient,
      campaign_id: log.campaignId,
      tag: log.tag,
      template_id: typeof templateRef === 'string' ? templateRef : null,
      bounce_type: log.bounceType,
      bounce_reason: log.bounceReason,
      smtp_code: log.smtpCode,
      error_message: log.errorMessage,
      retry_count: log.retryCount,
      next_retry_at: iso(log.nextRetryAt),
      send_at: iso(log.sendAt),
      sent_at: iso(log.sentAt),
      delivered_at: iso(log.deliveredAt),
      opened_at: iso(log.openedAt),
      clicked_at: iso(log.clickedAt),
      created_at: log.createdAt.toISOString(),
      updated_at: log.updatedAt.toISOString(),
      events: events.map((e) => ({
        type: e.eventType,
        occurred_at: e.occurredAt.toISOString(),
        details: e.details,
      })),
    };
  }
}
