import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Several recipients per API message and attachments (README "Sending", docs/ARCHITECTURE.md
 * "Data model"). An `email_logs` row stays one recipient's delivery record; `message_id` names
 * the API message it belongs to when that message has several recipients (NULL: the row is the
 * whole message, its API id is `external_message_id`), `recipient_role` is how it was
 * addressed. Attachment content is stored once per SHA-256 (`attachment_blobs`); a message's
 * list is an `attachment_set` of `message_attachments` rows shared by every delivery record
 * of the send or batch. The partial indexes cover only rows that use the new columns, so
 * messages without them cost nothing more to insert. `ADD COLUMN … DEFAULT` with a constant
 * does not rewrite the table.
 */
export class MessageRecipientsAttachments1796610486585 implements MigrationInterface {
  name = 'MessageRecipientsAttachments1796610486585';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE email_logs ADD COLUMN message_id uuid`);
    await queryRunner.query(
      `ALTER TABLE email_logs ADD COLUMN recipient_role varchar(3) NOT NULL DEFAULT 'to'`,
    );
    await queryRunner.query(
      `ALTER TABLE email_logs ADD CONSTRAINT email_logs_recipient_role_check
         CHECK (recipient_role IN ('to', 'cc', 'bcc'))`,
    );
    await queryRunner.query(`ALTER TABLE email_logs ADD COLUMN attachment_set uuid`);
    await queryRunner.query(
      `CREATE INDEX idx_logs_message_id ON email_logs (message_id) WHERE message_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX idx_logs_attachment_set ON email_logs (attachment_set)
        WHERE attachment_set IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE TABLE attachment_blobs (
         sha256 char(64) NOT NULL,
         content bytea NOT NULL,
         size integer NOT NULL,
         last_used_at timestamptz NOT NULL DEFAULT now(),
         CONSTRAINT pk_attachment_blobs PRIMARY KEY (sha256))`,
    );
    await queryRunner.query(
      `CREATE TABLE message_attachments (
         set_id uuid NOT NULL,
         position smallint NOT NULL,
         sha256 char(64) NOT NULL,
         filename varchar(255) NOT NULL,
         content_type varchar(255) NOT NULL,
         content_id varchar(255),
         size integer NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now(),
         CONSTRAINT pk_message_attachments PRIMARY KEY (set_id, position),
         CONSTRAINT fk_message_attachments_sha256 FOREIGN KEY (sha256)
           REFERENCES attachment_blobs (sha256))`,
    );
    await queryRunner.query(
      `CREATE INDEX idx_message_attachments_sha256 ON message_attachments (sha256)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE message_attachments`);
    await queryRunner.query(`DROP TABLE attachment_blobs`);
    await queryRunner.query(`DROP INDEX idx_logs_attachment_set`);
    await queryRunner.query(`DROP INDEX idx_logs_message_id`);
    await queryRunner.query(`ALTER TABLE email_logs DROP COLUMN attachment_set`);
    await queryRunner.query(`ALTER TABLE email_logs DROP COLUMN recipient_role`);
    await queryRunner.query(`ALTER TABLE email_logs DROP COLUMN message_id`);
  }
}
