import { STREAMS_SQL, type Stream } from 'src/common/streams';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  ValueTransformer,
} from 'typeorm';

/** pg returns numeric as a string; these rates fit a double exactly enough. */
const numericToNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/**
 * One row per hour, globally (domain = null) and for the top recipient domains; each both for
 * all streams (stream = null) and for each stream (README "Streams").
 */
@Entity('hourly_stats')
// UNIQUE (hour, stream, domain) NULLS NOT DISTINCT, so a second global row is rejected.
// TypeORM cannot express NULLS NOT DISTINCT: the migration owns this index.
@Index('idx_hourly_stats_hour_stream_domain', { synchronize: false })
// The reads of the stats API (migration 1796611300000): partial indexes, owned by the migration.
@Index('idx_hourly_stats_global', { synchronize: false })
@Index('idx_hourly_stats_stream_domains', { synchronize: false })
@Index('idx_hourly_stats_domain_hour', { synchronize: false })
@Check('hourly_stats_stream_check', `stream IN (${STREAMS_SQL})`)
export class HourlyStat {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_hourly_stats',
  })
  id: string;

  /** Start of the hour. */
  @Column({ type: 'timestamptz' })
  hour: Date;

  /** Null = all streams. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  stream: Stream | null;

  /** Null = all domains. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  domain: string | null;

  @Column({ type: 'integer', default: 0 })
  sent: number;

  @Column({ type: 'integer', default: 0 })
  delivered: number;

  @Column({ name: 'bounced_hard', type: 'integer', default: 0 })
  bouncedHard: number;

  @Column({ name: 'bounced_soft', type: 'integer', default: 0 })
  bouncedSoft: number;

  @Column({ type: 'integer', default: 0 })
  complained: number;

  @Column({ type: 'integer', default: 0 })
  opened: number;

  @Column({ type: 'integer', default: 0 })
  clicked: number;

  /** Percent, 0–100. */
  @Column({
    name: 'delivery_rate',
    type: 'numeric',
    precision: 5,
    scale: 2,
    default: 0,
    transformer: numericToNumber,
  })
  deliveryRate: number;

  /** Percent, 0–100. */
  @Column({
    name: 'bounce_rate',
    type: 'numeric',
    precision: 5,
    scale: 2,
    default: 0,
    transformer: numericToNumber,
  })
  bounceRate: number;

  /** numeric(5,4) holds at most 9.9999: writers must keep it in range (a fraction or a clamp). */
  @Column({
    name: 'complaint_rate',
    type: 'numeric',
    precision: 5,
    scale: 4,
    default: 0,
    transformer: numericToNumber,
  })
  complaintRate: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
