import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every message belongs to a stream, `transactional` or `broadcast` (README "Streams");
 * a template may name the stream its messages default to. `ADD COLUMN … DEFAULT` with a
 * constant does not rewrite the table (PostgreSQL ≥ 11).
 */
export class MessageStreams1765000000000 implements MigrationInterface {
  name = 'MessageStreams1765000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE email_logs ADD COLUMN stream varchar(16) NOT NULL DEFAULT 'transactional'`,
    );
    await queryRunner.query(
      `ALTER TABLE email_logs ADD CONSTRAINT email_logs_stream_check
         CHECK (stream IN ('transactional', 'broadcast'))`,
    );
    await queryRunner.query(`ALTER TABLE email_templates ADD COLUMN stream varchar(16)`);
    await queryRunner.query(
      `ALTER TABLE email_templates ADD CONSTRAINT email_templates_stream_check
         CHECK (stream IN ('transactional', 'broadcast'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_templates DROP COLUMN stream`);
    await queryRunner.query(`ALTER TABLE email_logs DROP COLUMN stream`);
  }
}
