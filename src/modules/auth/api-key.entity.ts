import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

export const API_KEY_SCOPES = ['full', 'send'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

@Entity('api_keys')
@Check('api_keys_scope_check', `scope IN (${API_KEY_SCOPES.map((s) => `'${s}'`).join(', ')})`)
// Only active keys must be unique: a revoked key's hash may be re-issued (no second full index).
@Index('idx_api_keys_active_unique', ['keyHash'], { unique: true, where: 'active = true' })
export class ApiKey {
  @PrimaryGeneratedColumn('identity', {
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_api_keys',
  })
  id: number;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  /** The first characters of the key, for display only. */
  @Column({ name: 'key_prefix', type: 'varchar', length: 16 })
  keyPrefix: string;

  /** SHA-256 hex of the full key; the key itself is never stored. */
  @Column({ name: 'key_hash', type: 'char', length: 64 })
  keyHash: string;

  @Column({ type: 'varchar', length: 16, default: 'full' })
  scope: ApiKeyScope;

  @Column({ type: 'boolean', default: true })
  active: boolean;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
