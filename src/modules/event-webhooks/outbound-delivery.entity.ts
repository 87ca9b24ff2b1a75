import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  ForeignKey,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

export const DELIVERY_STATUSES = ['pending', 'sending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * One event for one endpoint and its latest attempt (README "Event webhooks"; every attempt is
 * an OutboundDeliveryAttempt). `pending` with `next_attempt_at` waits for its turn; `sending`
 * is claimed until `locked_until` (a worker that dies leaves it to be claimed again); `failed`
 * is final (schedule exhausted, 410, or a disabled endpoint).
 */
@Entity('outbound_deliveries')
@Unique('uq_outbound_deliveries_endpoint_event', ['endpointId', 'outboundEventId'])
@Check(
  'outbound_deliveries_status_check',
  `status IN (${DELIVERY_STATUSES.map((s) => `'${s}'`).join(', ')})`,
)
@Index('idx_outbound_deliveries_endpoint_id', ['endpointId', 'id'])
@Index('idx_outbound_deliveries_event_id', ['outboundEventId'])
@Index('idx_outbound_deliveries_due', ['endpointId', 'nextAttemptAt', 'id'], {
  where: `status IN ('pending', 'sending')`,
})
export class OutboundDelivery {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_outbound_deliveries',
  })
  id: string;

  @Column({ name: 'endpoint_id', type: 'uuid' })
  @ForeignKey('webhook_endpoints', {
    name: 'fk_outbound_deliveries_endpoint_id',
    onDelete: 'CASCADE',
  })
  endpointId: string;

  @Column({ name: 'outbound_event_id', type: 'bigint' })
  @ForeignKey('outbound_events', { name: 'fk_outbound_deliveries_event_id', onDelete: 'CASCADE' })
  outboundEventId: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil: Date | null;

  @Column({ name: 'last_attempt_at', type: 'timestamptz', nullable: true })
  lastAttemptAt: Date | null;

  @Column({ name: 'response_status', type: 'integer', nullable: true })
  responseStatus: number | null;

  /** At most 1 KB of the answer's body. */
  @Column({ name: 'response_body', type: 'varchar', length: 1024, nullable: true })
  responseBody: string | null;

  @Column({ name: 'duration_ms', type: 'integer', nullable: true })
  durationMs: number | null;

  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
