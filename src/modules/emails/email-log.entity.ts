import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  ForeignKey,
  Generated,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { STREAMS_SQL, type Stream } from 'src/common/streams';

export const EMAIL_STATUSES = [
  'queued',
  'processing',
  'sent',
  'delivered',
  'bounced',
  'failed',
  'complained',
  'retry_scheduled',
  'held',
  'canceled',
] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

/** How a delivery record's recipient was addressed (README "Sending"). */
export const RECIPIENT_ROLES = ['to', 'cc', 'bcc'] as const;
export type RecipientRole = (typeof RECIPIENT_ROLES)[number];

export const BOUNCE_TYPES = ['hard', 'soft'] as const;
export type BounceType = (typeof BOUNCE_TYPES)[number];

@Entity('email_logs')
@Unique('uq_email_logs_external_message_id', ['externalMessageId'])
@Check('email_logs_status_check', `status IN (${EMAIL_STATUSES.map((s) => `'${s}'`).join(', ')})`)
@Check(
  'email_logs_bounce_type_check',
  `bounce_type IN (${BOUNCE_TYPES.map((t) => `'${t}'`).join(', ')})`,
)
@Check('email_logs_stream_check', `stream IN (${STREAMS_SQL})`)
@Check(
  'email_logs_recipient_role_check',
  `recipient_role IN (${RECIPIENT_ROLES.map((r) => `'${r}'`).join(', ')})`,
)
@Index('idx_logs_domain_status', ['recipientDomain', 'status'])
@Index('idx_logs_created_status', ['createdAt', 'status'])
@Index('idx_logs_next_retry_at', ['nextRetryAt'], { where: `status = 'retry_scheduled'` })
// Outbox sweeper: queued rows older than a minute that never got a job.
@Index('idx_logs_queued_created_at', ['createdAt'], { where: `status = 'queued'` })
// Indexes TypeORM cannot describe, so it must neither create nor drop them (see the migration):
// keyset pagination (created_at DESC, id DESC) and lower(recipient) lookups.
@Index('idx_logs_created_at_id_desc', { synchronize: false })
@Index('idx_logs_recipient_lower', { synchronize: false })
export class EmailLog {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_email_logs',
  })
  id: string;

  /** The `message_id` the API returns. */
  @Column({ name: 'external_message_id', type: 'uuid' })
  @Generated('uuid')
  externalMessageId: string;

  /**
   * The API message this delivery record belongs to when it has several recipients (README
   * "Sending"); null: the record is the whole message and `externalMessageId` its API id.
   */
  @Index('idx_logs_message_id', { where: 'message_id IS NOT NULL' })
  @Column({ name: 'message_id', type: 'uuid', nullable: true })
  messageId: string | null;

  @Column({ name: 'recipient_role', type: 'varchar', length: 3, default: 'to' })
  recipientRole: RecipientRole;

  /** The attachment list this message carries (`message_attachments.set_id`); null: none. */
  @Index('idx_logs_attachment_set', { where: 'attachment_set IS NOT NULL' })
  @Column({ name: 'attachment_set', type: 'uuid', nullable: true })
  attachmentSet: string | null;

  @Column({ name: 'api_key_id', type: 'integer', nullable: true })
  @ForeignKey('api_keys', { name: 'fk_email_logs_api_key_id', onDelete: 'SET NULL' })
  apiKeyId: number | null;

  @Column({ name: 'template_id', type: 'integer', nullable: true })
  @ForeignKey('email_templates', { name: 'fk_email_logs_template_id', onDelete: 'SET NULL' })
  templateId: number | null;

  @Index('idx_logs_batch_id')
  @Column({ name: 'batch_id', type: 'uuid', nullable: true })
  batchId: string | null;

  @Index('idx_logs_campaign_id')
  @Column({ name: 'campaign_id', type: 'varchar', length: 255, nullable: true })
  campaignId: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  tag: string | null;

  /** `transactional` or `broadcast` (README "Streams"). */
  @Column({ type: 'varchar', length: 16, default: 'transactional' })
  stream: Stream;

  @Column({ type: 'varchar', length: 320 })
  recipient: string;

  /** Computed by PostgreSQL, so set-based inserts fill it too; never written by the app. */
  @Index('idx_logs_recipient_domain')
  @Column({
    name: 'recipient_domain',
    type: 'varchar',
    length: 320,
    generatedType: 'STORED',
    asExpression: `lower(split_part(recipient, '@', -1))`,
    insert: false,
    update: false,
  })
  recipientDomain: string;

  @Column({ type: 'varchar', length: 998, nullable: true })
  sender: string | null;

  @Column({ type: 'text', nullable: true })
  subject: string | null;

  @Column({ type: 'varchar', length: 32, default: 'queued' })
  status: EmailStatus;

  /**
   * The status before `status` (null until the first change): every status UPDATE sets it
   * from the row it changes, so the transition's outbox row gets its exact `from_status` from
   * RETURNING, with no extra read or row lock (docs/ARCHITECTURE.md "Transition events").
   */
  @Column({ name: 'previous_status', type: 'varchar', length: 32, nullable: true })
  previousStatus: EmailStatus | null;

  /** Variables, headers and options of the request. */
  @Column({ name: 'status_details', type: 'jsonb', default: () => "'{}'" })
  statusDetails: Record<string, unknown>;

  @Index('idx_logs_bounce_type')
  @Column({ name: 'bounce_type', type: 'varchar', length: 8, nullable: true })
  bounceType: BounceType | null;

  @Column({ name: 'bounce_reason', type: 'varchar', length: 64, nullable: true })
  bounceReason: string | null;

  @Index('idx_logs_smtp_code')
  @Column({ name: 'smtp_code', type: 'varchar', length: 16, nullable: true })
  smtpCode: string | null;

  @Column({ name: 'error_message', type: 'varchar', length: 1000, nullable: true })
  errorMessage: string | null;

  @Column({ name: 'retry_count', type: 'integer', default: 0 })
  retryCount: number;

  @Column({ name: 'next_retry_at', type: 'timestamptz', nullable: true })
  nextRetryAt: Date | null;

  @Index('idx_logs_provider_message_id')
  @Column({ name: 'provider_message_id', type: 'varchar', length: 255, nullable: true })
  providerMessageId: string | null;

  @Index('idx_logs_provider_token')
  @Column({ name: 'provider_token', type: 'varchar', length: 255, nullable: true })
  providerToken: string | null;

  /** Postal's RFC Message-ID, which its webhooks carry. */
  @Index('idx_logs_postal_message_id')
  @Column({ name: 'postal_message_id', type: 'varchar', length: 255, nullable: true })
  postalMessageId: string | null;

  @Column({ name: 'send_at', type: 'timestamptz', nullable: true })
  sendAt: Date | null;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt: Date | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;

  @Column({ name: 'opened_at', type: 'timestamptz', nullable: true })
  openedAt: Date | null;

  @Column({ name: 'clicked_at', type: 'timestamptz', nullable: true })
  clickedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
