import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { STREAMS_SQL, type Stream } from 'src/common/streams';

/**
 * A recipient refused at accept because it is suppressed (README "Event webhooks":
 * `email.suppressed`). There is no message row, so this is the outbox entry of its own event:
 * written before the 422 (single send) or in the batch's transaction, and published with the
 * transitions by lifecycle/transition-publisher.ts, read in (tx, id) order like email_events.
 */
@Entity('accept_rejections')
@Check('accept_rejections_stream_check', `stream IN (${STREAMS_SQL})`)
@Index('idx_accept_rejections_outbox', ['tx', 'id'])
export class AcceptRejection {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_accept_rejections',
  })
  id: string;

  /** The inserting transaction (see migration 1764500000000-TransitionOutbox.ts). */
  @Column({
    type: 'bigint',
    default: () => 'current_xact_id_bigint()',
    insert: false,
    update: false,
  })
  tx: string;

  @Column({ type: 'varchar', length: 320 })
  recipient: string;

  @Column({ type: 'varchar', length: 16, default: 'transactional' })
  stream: Stream;

  @Column({ name: 'campaign_id', type: 'varchar', length: 255, nullable: true })
  campaignId: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  tag: string | null;

  @Column({ name: 'batch_id', type: 'uuid', nullable: true })
  batchId: string | null;

  /** The suppression list's reason (hard_bounce, complaint, unsubscribe, …). */
  @Column({ type: 'varchar', length: 32 })
  reason: string;

  @Column({ name: 'occurred_at', type: 'timestamptz', default: () => 'now()' })
  occurredAt: Date;
}
