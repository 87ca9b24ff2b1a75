import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';

/**
 * One attachment of an attachment set: the list a send or a batch carries, shared by all its
 * delivery records (`email_logs.attachment_set`). The content is the blob of `sha256`.
 */
@Entity('message_attachments')
export class MessageAttachment {
  @PrimaryColumn({
    name: 'set_id',
    type: 'uuid',
    primaryKeyConstraintName: 'pk_message_attachments',
  })
  setId: string;

  @PrimaryColumn({ type: 'smallint', primaryKeyConstraintName: 'pk_message_attachments' })
  position: number;

  @Index('idx_message_attachments_sha256')
  @Column({ type: 'char', length: 64 })
  @ForeignKey('attachment_blobs', { name: 'fk_message_attachments_sha256' })
  sha256: string;

  @Column({ type: 'varchar', length: 255 })
  filename: string;

  @Column({ name: 'content_type', type: 'varchar', length: 255 })
  contentType: string;

  @Column({ name: 'content_id', type: 'varchar', length: 255, nullable: true })
  contentId: string | null;

  @Column({ type: 'integer' })
  size: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
