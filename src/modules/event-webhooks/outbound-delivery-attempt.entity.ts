import { Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One attempt of a delivery (README "Event webhooks": the attempts log), written in the same
 * statement that records it on the delivery. `attempt` counts from 1 and starts again after a
 * replay.
 */
@Entity('outbound_delivery_attempts')
@Index('idx_outbound_delivery_attempts_delivery_id', ['deliveryId', 'id'])
export class OutboundDeliveryAttempt {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_outbound_delivery_attempts',
  })
  id: string;

  @Column({ name: 'delivery_id', type: 'bigint' })
  @ForeignKey('outbound_deliveries', {
    name: 'fk_outbound_delivery_attempts_delivery_id',
    onDelete: 'CASCADE',
  })
  deliveryId: string;

  @Column({ type: 'integer' })
  attempt: number;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt: Date;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs: number;

  @Column({ name: 'response_status', type: 'integer', nullable: true })
  responseStatus: number | null;

  /** At most 1 KB of the answer's body. */
  @Column({ name: 'response_body', type: 'varchar', length: 1024, nullable: true })
  responseBody: string | null;

  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;
}
