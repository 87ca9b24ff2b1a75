import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { EmailEvent, EmailEventType } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';

let seq = 0;

/** Inserts an email_logs row with unique defaults. */
export async function makeEmailLog(
  ds: DataSource,
  overrides: Partial<EmailLog> = {},
): Promise<EmailLog> {
  seq += 1;
  const repo = ds.getRepository(EmailLog);
  return repo.save(
    repo.create({
      externalMessageId: randomUUID(),
      recipient: `user${seq}-${randomUUID().slice(0, 8)}@Example.com`,
      sender: 'Shop <news@shop.example>',
      subject: `Subject ${seq}`,
      status: 'queued',
      statusDetails: {},
      ...overrides,
    }),
  );
}

export async function makeEmailEvent(
  ds: DataSource,
  log: EmailLog,
  eventType: EmailEventType,
  overrides: Partial<EmailEvent> = {},
): Promise<EmailEvent> {
  const repo = ds.getRepository(EmailEvent);
  return repo.save(repo.create({ emailLogId: log.id, eventType, details: {}, ...overrides }));
}
