import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The `email_events` row of a status change is its outbox entry (docs/ARCHITECTURE.md
 * "Transition events"): `from_status` and `cause` name the transition, `tx` is the inserting
 * transaction's id. The publisher reads rows in (tx, id) order up to the oldest transaction
 * still running, so a row that commits late is never skipped, and keeps its progress per
 * consumer group in `outbox_cursors`. Rows written before this migration have no cause and
 * are not published.
 */
export class TransitionOutbox1764500000000 implements MigrationInterface {
  name = 'TransitionOutbox1764500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, then the default: existing rows keep NULL and the table is not rewritten.
    await queryRunner.query(`
      ALTER TABLE email_events
        ADD COLUMN from_status varchar(32),
        ADD COLUMN cause varchar(32),
        ADD COLUMN tx bigint`);
    // A function, so the default reads the same in the catalog as in the entity (TypeORM
    // strips casts from the defaults it reads).
    await queryRunner.query(
      `CREATE FUNCTION current_xact_id_bigint() RETURNS bigint LANGUAGE sql VOLATILE
       AS 'SELECT pg_current_xact_id()::text::bigint'`,
    );
    await queryRunner.query(
      `ALTER TABLE email_events ALTER COLUMN tx SET DEFAULT current_xact_id_bigint()`,
    );
    await queryRunner.query(
      `CREATE INDEX idx_email_events_outbox ON email_events (tx, id) WHERE cause IS NOT NULL`,
    );
    await queryRunner.query(`
      CREATE TABLE outbox_cursors (
        name varchar(64) NOT NULL,
        last_tx bigint NOT NULL DEFAULT 0,
        last_id bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_outbox_cursors PRIMARY KEY (name)
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS outbox_cursors`);
    await queryRunner.query(`DROP INDEX IF EXISTS idx_email_events_outbox`);
    await queryRunner.query(
      `ALTER TABLE email_events DROP COLUMN tx, DROP COLUMN cause, DROP COLUMN from_status`,
    );
    await queryRunner.query(`DROP FUNCTION IF EXISTS current_xact_id_bigint()`);
  }
}
