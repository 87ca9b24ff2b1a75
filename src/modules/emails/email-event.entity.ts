import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { Stream } from 'src/common/streams';
import type { EmailStatus } from 'src/modules/emails/email-log.entity';

/** What the API's message timeline shows (GET /api/v1/messages/:id). */
export const MESSAGE_EVENT_TYPES = [
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
  'canceled',
] as const;

/**
 * Every `event_type` of a row: the timeline's, and `processing`, the target of the worker's
 * claim — an internal transition the API's timeline leaves out (docs/ARCHITECTURE.md
 * "Transition events").
 */
export const EMAIL_EVENT_TYPES = [...MESSAGE_EVENT_TYPES, 'processing'] as const;
export type EmailEventType = (typeof EMAIL_EVENT_TYPES)[number];

@Entity('email_events')
@Check(
  'email_events_event_type_check',
  `event_type IN (${EMAIL_EVENT_TYPES.map((t) => `'${t}'`).join(', ')})`,
)
@Index('idx_email_events_log_occurred_at', ['emailLogId', 'occurredAt'])
@Index('idx_email_events_type_occurred_at', ['eventType', 'occurredAt'])
// The transition outbox's read order (partial: only transitions; see the migration).
@Index('idx_email_events_outbox', { synchronize: false })
export class EmailEvent {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_email_events',
  })
  id: string;

  @Column({ name: 'email_log_id', type: 'bigint' })
  @ForeignKey('email_logs', { name: 'fk_email_events_email_log_id', onDelete: 'CASCADE' })
  emailLogId: string;

  /** The message's recipient domain (filled by the insert or a trigger; see the migration). */
  @Column({
    name: 'recipient_domain',
    type: 'varchar',
    length: 320,
    nullable: true,
    insert: false,
    update: false,
  })
  recipientDomain: string | null;

  /** The message's stream (README "Streams"), copied like recipient_domain (see the migration). */
  @Column({ type: 'varchar', length: 16, insert: false, update: false })
  stream: Stream;

  @Column({ name: 'event_type', type: 'varchar', length: 32 })
  eventType: EmailEventType;

  /**
   * A status change: the status it left (null for accept) and why (a TransitionCause of
   * lifecycle/transitions.ts). Null cause: an event without a status change (opened, …).
   */
  @Column({ name: 'from_status', type: 'varchar', length: 32, nullable: true })
  fromStatus: EmailStatus | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  cause: string | null;

  /** The inserting transaction (pg_current_xact_id, see the migration): the outbox's read order. */
  @Column({
    type: 'bigint',
    nullable: true,
    default: () => 'current_xact_id_bigint()',
    insert: false,
    update: false,
  })
  tx: string | null;

  /** SMTP output, url, ip, user agent, source. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, unknown>;

  // BRIN: near-free on an append-only table, and lets retention pruning find old rows.
  @Index('idx_email_events_occurred_at_brin', { type: 'brin' })
  @Column({ name: 'occurred_at', type: 'timestamptz', default: () => 'now()' })
  occurredAt: Date;
}
