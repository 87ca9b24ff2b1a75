import { Column, Entity, Generated, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * One customer-facing event (README "Event webhooks"), stored once whatever the number of
 * endpoints, as it is sent: its `webhook-id` (`msg_` + event_id) and payload never change, so
 * retries and replays carry the same id and receivers dedupe. `source_key` names the outbox row
 * it came from (`e<email_events.id>`, `r<accept_rejections.id>`): a page published twice
 * stores nothing twice.
 */
@Entity('outbound_events')
@Unique('uq_outbound_events_source_key', ['sourceKey'])
@Unique('uq_outbound_events_event_id', ['eventId'])
@Index('idx_outbound_events_created_at', ['createdAt'])
export class OutboundEvent {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_outbound_events',
  })
  id: string;

  @Column({ name: 'event_id', type: 'uuid' })
  @Generated('uuid')
  eventId: string;

  @Column({ name: 'source_key', type: 'varchar', length: 32 })
  sourceKey: string;

  /** `email.delivered`, … */
  @Column({ type: 'varchar', length: 32 })
  type: string;

  /** The whole body as sent: `{type, created_at, data}`. */
  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
