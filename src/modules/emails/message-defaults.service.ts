import type { Stream } from 'src/common/streams';
import { Injectable } from '@nestjs/common';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { AppConfig } from 'src/config/app-config';
import { DomainsService } from 'src/modules/domains/domains.service';
import type { EmailContentDto } from 'src/modules/emails/dto/send-email.dto';
import { formatMailbox, parseMailbox } from 'src/modules/emails/mailbox';
import type { MessageDetails } from 'src/modules/emails/message-details';

/**
 * What an accepted message gets that its request may leave out (README "Sending"): the From
 * (DEFAULT_FROM), which must be a verified sending domain when REQUIRE_VERIFIED_DOMAINS is on
 * (README "Sending domains"), and the tracking and unsubscribe options.
 */
@Injectable()
export class MessageDefaultsService {
  constructor(
    private readonly config: AppConfig,
    private readonly domains: DomainsService,
  ) {}

  /**
   * The From mailbox as stored: the request's or DEFAULT_FROM, formatted. Throws 400 when there
   * is none, 422 `domain_not_verified` when its domain may not send.
   */
  /** MAX_MESSAGE_BYTES: decoded attachments plus html and text (README "Sending"). */
  get maxMessageBytes(): number {
    return this.config.maxMessageBytes;
  }

  async from(given: string | undefined): Promise<string> {
    const from = given ?? this.config.defaultFrom;
    if (!from) {
      throw new ValidationFailedError('from is required (no DEFAULT_FROM is configured)', [
        { field: 'from', message: 'from is required (no DEFAULT_FROM is configured)' },
      ]);
    }
    const mailbox = parseMailbox(from);
    if (!mailbox) throw new ValidationFailedError('DEFAULT_FROM is not a valid address');
    await this.domains.assertMaySendFrom(
      mailbox.address.slice(mailbox.address.lastIndexOf('@') + 1),
    );
    return formatMailbox(mailbox);
  }

  options(dto: EmailContentDto, stream: Stream): MessageDetails['options'] {
    return {
      track_opens: dto.track_opens ?? this.config.tracking.opens,
      track_clicks: dto.track_clicks ?? this.config.tracking.clicks,
      // README "Streams": List-Unsubscribe on broadcast mail, on transactional when asked.
      unsubscribe: dto.unsubscribe ?? stream === 'broadcast',
    };
  }
}
