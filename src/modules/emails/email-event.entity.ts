import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';

export const EMAIL_EVENT_TYPES = [
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
] as const;
export type EmailEventType = (typeof EMAIL_EVENT_TYPES)[number];

@Entity('email_events')
@Check(
  'email_events_event_type_check',
  `event_type IN (${EMAIL_EVENT_TYPES.map((t) => `'${t}'`).join(', ')})`,
)
@Index('idx_email_events_log_occurred_at', ['emailLogId', 'occurredAt'])
@Index('idx_email_events_type_occurred_at', ['eventType', 'occurredAt'])
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

  @Column({ name: 'event_type', type: 'varchar', length: 32 })
  eventType: EmailEventType;

  /** SMTP output, url, ip, user agent, source. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, unknown>;

  // BRIN: near-free on an append-only table, and lets retention pruning find old rows.
  @Index('idx_email_events_occurred_at_brin', { type: 'brin' })
  @Column({ name: 'occurred_at', type: 'timestamptz', default: () => 'now()' })
  occurredAt: Date;
}
