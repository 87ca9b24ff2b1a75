import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';

/** Queries over email_logs and email_events; SQL stays in here. */
@Injectable()
export class EmailLogRepository {
  constructor(
    @InjectRepository(EmailLog) private readonly logs: Repository<EmailLog>,
    @InjectRepository(EmailEvent) private readonly events: Repository<EmailEvent>,
  ) {}

  findByMessageId(messageId: string): Promise<EmailLog | null> {
    return this.logs.findOne({ where: { externalMessageId: messageId } });
  }

  eventsOf(emailLogId: string): Promise<EmailEvent[]> {
    return this.events.find({
      where: { emailLogId },
      order: { occurredAt: 'ASC', id: 'ASC' },
    });
  }
}
