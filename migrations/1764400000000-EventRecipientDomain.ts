import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * email_events.recipient_domain: the message's recipient domain, copied onto each event so
 * the hourly aggregation groups a busy hour by domain without joining millions of events to
 * email_logs. Filled by the inserting statement where it has the domain at hand, otherwise by
 * a BEFORE INSERT trigger (one primary-key lookup).
 */
export class EventRecipientDomain1764400000000 implements MigrationInterface {
  name = 'EventRecipientDomain1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_events ADD COLUMN recipient_domain varchar(320)`);
    await queryRunner.query(`
      UPDATE email_events e SET recipient_domain = l.recipient_domain
        FROM email_logs l WHERE l.id = e.email_log_id`);
    await queryRunner.query(`
      CREATE FUNCTION email_events_fill_recipient_domain() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.recipient_domain IS NULL THEN
          SELECT l.recipient_domain INTO NEW.recipient_domain FROM email_logs l WHERE l.id = NEW.email_log_id;
        END IF;
        RETURN NEW;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER trg_email_events_recipient_domain BEFORE INSERT ON email_events
      FOR EACH ROW EXECUTE FUNCTION email_events_fill_recipient_domain()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `DROP TRIGGER IF EXISTS trg_email_events_recipient_domain ON email_events`,
    );
    await queryRunner.query(`DROP FUNCTION IF EXISTS email_events_fill_recipient_domain()`);
    await queryRunner.query(`ALTER TABLE email_events DROP COLUMN recipient_domain`);
  }
}
