import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** A received Postal webhook, stored before processing so a redelivery is recognised. */
@Entity('webhook_events')
@Unique('uq_webhook_events_uuid', ['uuid'])
export class WebhookEvent {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_webhook_events',
  })
  id: string;

  /** Postal's envelope uuid. */
  @Column({ type: 'varchar', length: 64 })
  uuid: string;

  @Column({ type: 'varchar', length: 64 })
  event: string;

  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @Index('idx_webhook_events_received_at')
  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt: Date;

  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;
}
