import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * An attachment's bytes, stored once per SHA-256 whatever the number of messages that carry
 * it (README "Sending": attachments); pruned once no message needs it.
 */
@Entity('attachment_blobs')
export class AttachmentBlob {
  @PrimaryColumn({ type: 'char', length: 64, primaryKeyConstraintName: 'pk_attachment_blobs' })
  sha256: string;

  @Column({ type: 'bytea' })
  content: Buffer;

  @Column({ type: 'integer' })
  size: number;

  /** Touched by every accept that links it, so the prune never races a new link. */
  @Column({ name: 'last_used_at', type: 'timestamptz', default: () => 'now()' })
  lastUsedAt: Date;
}
