import { Injectable } from '@nestjs/common';
import { NotFoundError, ValidationFailedError } from 'src/common/errors/app-error';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import { ComplaintCreateDto, ComplaintResponseDto } from 'src/modules/webhooks/dto/complaint.dto';
import type { ArfComplaint } from 'src/modules/webhooks/arf-parser';

/** Complaints from the API and from ARF feedback reports (SPEC §9.3). */
@Injectable()
export class ComplaintsService {
  constructor(
    private readonly state: EmailStateService,
    private readonly blacklist: BlacklistService,
  ) {}

  async fromApi(dto: ComplaintCreateDto): Promise<ComplaintResponseDto> {
    if (!dto.message_id && !dto.email) {
      throw new ValidationFailedError('Give message_id or email', [
        { field: 'message_id', message: 'message_id or email is required' },
      ]);
    }
    const source = dto.source ?? 'api';
    const target = dto.message_id
      ? await this.state.find({ messageId: dto.message_id.toLowerCase() })
      : await this.state.findLatestForRecipient(dto.email!);
    if (dto.message_id && !target) throw new NotFoundError(`Message ${dto.message_id} not found`);
    if (!target) {
      // No message of ours went to this address: still honour the complaint.
      await this.blacklist.add({ email: dto.email!, reason: 'complaint', source });
      return { email: dto.email!.trim(), message_id: null, complained: false, suppressed: true };
    }
    const complained = await this.state.markComplained(target, { source });
    return { email: target.recipient, message_id: target.messageId, complained, suppressed: true };
  }

  /** An ARF report routed to us by Postal; matched by X-Email-Id, then Postal's Message-ID. */
  async fromArf(
    report: ArfComplaint,
  ): Promise<{ matched: boolean; message_id: string | null; complained: boolean }> {
    // RFC 5965 `not-spam` is the opposite of a complaint.
    if (report.feedbackType === 'not-spam')
      return { matched: false, message_id: null, complained: false };
    const target =
      (report.emailId ? await this.state.find({ messageId: report.emailId }) : null) ??
      (report.postalMessageId
        ? await this.state.find({ postalMessageId: report.postalMessageId })
        : null);
    if (!target) {
      if (report.originalRecipient) {
        await this.blacklist.add({
          email: report.originalRecipient,
          reason: 'fbl',
          source: report.userAgent ?? 'arf',
        });
      }
      return { matched: false, message_id: null, complained: false };
    }
    const complained = await this.state.markComplained(target, {
      source: 'arf',
      feedback_type: report.feedbackType,
      user_agent: report.userAgent,
      reported_domain: report.reportedDomain,
      source_ip: report.sourceIp,
      arrival_date: report.arrivalDate?.toISOString() ?? null,
    });
    return { matched: true, message_id: target.messageId, complained };
  }
}
