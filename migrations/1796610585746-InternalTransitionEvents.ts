import { MigrationInterface, QueryRunner } from 'typeorm';

const BEFORE = [
  'queued',
  'sent',
  'delivered',
  'delayed',
  'bounced',
  'held',
  'failed',
  'opened',
  'clicked',
  'complained',
  'unsubscribed',
  'retry_scheduled',
  // Added by 1796610459147-StreamsScopesCancel, which runs first.
  'canceled',
];

const check = (types: string[]): string =>
  `CHECK (event_type IN (${types.map((t) => `'${t}'`).join(', ')}))`;

/**
 * Every status change writes its `email_events` row, the worker's claim and hand-backs
 * included (docs/ARCHITECTURE.md "Transition events"): the claim's row has the event type
 * `processing` (the new list only widens the old one: every existing row satisfies it).
 * `email_logs.previous_status` is set by every status UPDATE from the row it changes, so the
 * statement returns the exact status it left without locking the row first. Nullable with no
 * default: the table is not rewritten.
 */
export class InternalTransitionEvents1796610585746 implements MigrationInterface {
  name = 'InternalTransitionEvents1796610585746';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_logs ADD COLUMN previous_status varchar(32)`);
    await queryRunner.query(
      `ALTER TABLE email_events DROP CONSTRAINT email_events_event_type_check,
         ADD CONSTRAINT email_events_event_type_check ${check([...BEFORE, 'processing'])}`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // The claim's rows cannot satisfy the old list: they go (they were never shown by the API).
    await queryRunner.query(`DELETE FROM email_events WHERE event_type = 'processing'`);
    await queryRunner.query(
      `ALTER TABLE email_events DROP CONSTRAINT email_events_event_type_check,
         ADD CONSTRAINT email_events_event_type_check ${check(BEFORE)}`,
    );
    await queryRunner.query(`ALTER TABLE email_logs DROP COLUMN previous_status`);
  }
}
