import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { SUPPRESSION_SCOPES_SQL, type SuppressionScope } from 'src/common/streams';

export const BLACKLIST_REASONS = [
  'hard_bounce',
  'complaint',
  'manual',
  'fbl',
  'spam_trap',
  'unsubscribe',
] as const;
export type BlacklistReason = (typeof BLACKLIST_REASONS)[number];

@Entity('blacklists')
// email_hash first: the suppression checks look an address up by its hash alone.
@Unique('uq_blacklists_email_hash_scope', ['emailHash', 'scope'])
@Check(
  'blacklists_reason_check',
  `reason IN (${BLACKLIST_REASONS.map((r) => `'${r}'`).join(', ')})`,
)
@Check('blacklists_scope_check', `scope IN (${SUPPRESSION_SCOPES_SQL})`)
export class BlacklistEntry {
  @PrimaryGeneratedColumn('identity', {
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_blacklists',
  })
  id: number;

  @Column({ type: 'varchar', length: 320 })
  email: string;

  /** SHA-256 hex of the trimmed, lower-cased address: the lookup key. */
  @Column({ name: 'email_hash', type: 'char', length: 64 })
  emailHash: string;

  @Index('idx_blacklists_reason')
  @Column({ type: 'varchar', length: 32 })
  reason: BlacklistReason;

  /** `all`, or the one stream the entry suppresses (README "Streams"). */
  @Column({ type: 'varchar', length: 16, default: 'all' })
  scope: SuppressionScope;

  @Column({ type: 'varchar', length: 64, nullable: true })
  source: string | null;

  @Column({ type: 'text', nullable: true })
  details: string | null;

  /** Null = permanent. */
  @Index('idx_blacklists_expires_at', { where: 'expires_at IS NOT NULL' })
  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
