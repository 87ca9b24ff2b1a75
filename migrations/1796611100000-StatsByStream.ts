import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Statistics per message stream (README "Streams"):
 *
 * - email_events.stream: the message's stream, copied onto each event like recipient_domain
 *   (migration 1764400000000), so the hourly aggregation groups by stream without joining
 *   millions of events to email_logs. Filled by the inserting statement where it has the
 *   stream at hand, otherwise by the same BEFORE INSERT trigger (one primary-key lookup).
 * - hourly_stats.stream: NULL = all streams (as every row before this migration), else the
 *   rows of one stream. Each hour keeps its all-streams rows, so nothing read before changes;
 *   hours aggregated before this migration simply have no per-stream rows.
 */
export class StatsByStream1796611100000 implements MigrationInterface {
  name = 'StatsByStream1796611100000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_events ADD COLUMN stream varchar(16)`);
    await queryRunner.query(`
      UPDATE email_events e SET stream = l.stream
        FROM email_logs l WHERE l.id = e.email_log_id`);
    await queryRunner.query(`ALTER TABLE email_events ALTER COLUMN stream SET NOT NULL`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION email_events_fill_recipient_domain() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.recipient_domain IS NULL OR NEW.stream IS NULL THEN
          SELECT coalesce(NEW.recipient_domain, l.recipient_domain), coalesce(NEW.stream, l.stream)
            INTO NEW.recipient_domain, NEW.stream
            FROM email_logs l WHERE l.id = NEW.email_log_id;
        END IF;
        RETURN NEW;
      END $$`);

    await queryRunner.query(`ALTER TABLE hourly_stats ADD COLUMN stream varchar(16)`);
    await queryRunner.query(
      `ALTER TABLE hourly_stats ADD CONSTRAINT hourly_stats_stream_check
         CHECK (stream IN ('transactional', 'broadcast'))`,
    );
    await queryRunner.query(`DROP INDEX idx_hourly_stats_hour_domain`);
    // NULLS NOT DISTINCT: the all-streams row and the all-domains row are unique per hour too.
    await queryRunner.query(
      `CREATE UNIQUE INDEX idx_hourly_stats_hour_stream_domain
         ON hourly_stats (hour, stream, domain) NULLS NOT DISTINCT`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM hourly_stats WHERE stream IS NOT NULL`);
    await queryRunner.query(`DROP INDEX idx_hourly_stats_hour_stream_domain`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX idx_hourly_stats_hour_domain ON hourly_stats (hour, domain)
         NULLS NOT DISTINCT`,
    );
    await queryRunner.query(`ALTER TABLE hourly_stats DROP COLUMN stream`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION email_events_fill_recipient_domain() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.recipient_domain IS NULL THEN
          SELECT l.recipient_domain INTO NEW.recipient_domain FROM email_logs l WHERE l.id = NEW.email_log_id;
        END IF;
        RETURN NEW;
      END $$`);
    await queryRunner.query(`ALTER TABLE email_events DROP COLUMN stream`);
  }
}
