import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { STREAMS_SQL, type Stream } from 'src/common/streams';

export const ENDPOINT_DISABLED_REASONS = ['manual', 'gone', 'failing'] as const;
export type EndpointDisabledReason = (typeof ENDPOINT_DISABLED_REASONS)[number];

/** A customer's endpoint for event webhooks (README "Event webhooks"). */
@Entity('webhook_endpoints')
@Check('webhook_endpoints_stream_check', `stream IN (${STREAMS_SQL})`)
@Check(
  'webhook_endpoints_disabled_reason_check',
  `disabled_reason IN (${ENDPOINT_DISABLED_REASONS.map((r) => `'${r}'`).join(', ')})`,
)
export class WebhookEndpoint {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_webhook_endpoints' })
  id: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  description: string | null;

  /** Event types (jsonb array); null: every type. */
  @Column({ type: 'jsonb', nullable: true })
  events: string[] | null;

  /** Only messages of this stream; null: both. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  stream: Stream | null;

  /** Only messages of these campaigns (jsonb array); null: any. */
  @Column({ name: 'campaign_ids', type: 'jsonb', nullable: true })
  campaignIds: string[] | null;

  /** Only messages with one of these tags (jsonb array); null: any. */
  @Column({ type: 'jsonb', nullable: true })
  tags: string[] | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Why it is disabled: by the API (`manual`), a 410 answer (`gone`), three days failing. */
  @Column({ name: 'disabled_reason', type: 'varchar', length: 16, nullable: true })
  disabledReason: EndpointDisabledReason | null;

  /** `whsec_…` (README "Secrets and what each protects": stored as is). */
  @Column({ type: 'varchar', length: 128 })
  secret: string;

  /** The secret before the last rotation, still signing alongside until its expiry. */
  @Column({ name: 'previous_secret', type: 'varchar', length: 128, nullable: true })
  previousSecret: string | null;

  @Column({ name: 'previous_secret_expires_at', type: 'timestamptz', nullable: true })
  previousSecretExpiresAt: Date | null;

  /** The first failed attempt since the last success; null while healthy. */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince: Date | null;

  @Column({ name: 'last_success_at', type: 'timestamptz', nullable: true })
  lastSuccessAt: Date | null;

  @Column({ name: 'last_failure_at', type: 'timestamptz', nullable: true })
  lastFailureAt: Date | null;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
