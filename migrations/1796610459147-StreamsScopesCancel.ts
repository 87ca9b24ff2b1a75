import { MigrationInterface, QueryRunner } from 'typeorm';

const STATUSES_BEFORE = `'queued', 'processing', 'sent', 'delivered', 'bounced', 'failed', 'complained', 'retry_scheduled', 'held'`;
const EVENT_TYPES_BEFORE = `'queued', 'sent', 'delivered', 'delayed', 'bounced', 'held', 'failed', 'opened', 'clicked', 'complained', 'unsubscribed', 'retry_scheduled'`;

/**
 * Streams made real (README "Streams"):
 * - `canceled`, a final status a message reaches before it is handed to Postal (DELETE
 *   /api/v1/messages/:id, POST /api/v1/batches/:id/cancel), and its event type;
 * - suppression entries carry a scope, `all` or a stream: an address may hold one entry per
 *   scope (a broadcast unsubscribe next to a later hard bounce for all), so the unique key
 *   becomes (email_hash, scope). Existing entries apply to all streams, as they did.
 */
export class StreamsScopesCancel1796610459147 implements MigrationInterface {
  name = 'StreamsScopesCancel1796610459147';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_logs DROP CONSTRAINT email_logs_status_check`);
    await queryRunner.query(
      `ALTER TABLE email_logs ADD CONSTRAINT email_logs_status_check
         CHECK (status IN (${STATUSES_BEFORE}, 'canceled'))`,
    );
    await queryRunner.query(
      `ALTER TABLE email_events DROP CONSTRAINT email_events_event_type_check`,
    );
    await queryRunner.query(
      `ALTER TABLE email_events ADD CONSTRAINT email_events_event_type_check
         CHECK (event_type IN (${EVENT_TYPES_BEFORE}, 'canceled'))`,
    );

    await queryRunner.query(
      `ALTER TABLE blacklists ADD COLUMN scope varchar(16) NOT NULL DEFAULT 'all'`,
    );
    await queryRunner.query(
      `ALTER TABLE blacklists ADD CONSTRAINT blacklists_scope_check
         CHECK (scope IN ('all', 'transactional', 'broadcast'))`,
    );
    await queryRunner.query(`ALTER TABLE blacklists DROP CONSTRAINT uq_blacklists_email_hash`);
    // email_hash first: the suppression checks look an address up by its hash alone.
    await queryRunner.query(
      `ALTER TABLE blacklists ADD CONSTRAINT uq_blacklists_email_hash_scope UNIQUE (email_hash, scope)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // Keep the strongest entry of each address when the scopes collapse back into one row.
    await queryRunner.query(
      `DELETE FROM blacklists b USING blacklists o
        WHERE o.email_hash = b.email_hash AND o.id <> b.id AND (o.scope = 'all') > (b.scope = 'all')`,
    );
    await queryRunner.query(
      `DELETE FROM blacklists b USING blacklists o
        WHERE o.email_hash = b.email_hash AND o.id > b.id`,
    );
    await queryRunner.query(
      `ALTER TABLE blacklists DROP CONSTRAINT uq_blacklists_email_hash_scope`,
    );
    await queryRunner.query(
      `ALTER TABLE blacklists ADD CONSTRAINT uq_blacklists_email_hash UNIQUE (email_hash)`,
    );
    await queryRunner.query(`ALTER TABLE blacklists DROP COLUMN scope`);
    await queryRunner.query(
      `UPDATE email_events SET event_type = 'failed' WHERE event_type = 'canceled'`,
    );
    await queryRunner.query(`UPDATE email_logs SET status = 'failed' WHERE status = 'canceled'`);
    await queryRunner.query(
      `ALTER TABLE email_events DROP CONSTRAINT email_events_event_type_check`,
    );
    await queryRunner.query(
      `ALTER TABLE email_events ADD CONSTRAINT email_events_event_type_check
         CHECK (event_type IN (${EVENT_TYPES_BEFORE}))`,
    );
    await queryRunner.query(`ALTER TABLE email_logs DROP CONSTRAINT email_logs_status_check`);
    await queryRunner.query(
      `ALTER TABLE email_logs ADD CONSTRAINT email_logs_status_check
         CHECK (status IN (${STATUSES_BEFORE}))`,
    );
  }
}
