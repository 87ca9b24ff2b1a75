import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** One row per (API key, Idempotency-Key header); the primary key is the uniqueness rule. */
@Entity('idempotency_keys')
export class IdempotencyKey {
  @PrimaryColumn({
    name: 'api_key_id',
    type: 'integer',
    primaryKeyConstraintName: 'pk_idempotency_keys',
  })
  apiKeyId: number;

  @PrimaryColumn({ type: 'varchar', length: 256, primaryKeyConstraintName: 'pk_idempotency_keys' })
  key: string;

  /** SHA-256 hex of the request, to reject a reused key with a different body. */
  @Column({ name: 'request_hash', type: 'char', length: 64 })
  requestHash: string;

  /** Null while the first request is still in flight. */
  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode: number | null;

  @Column({ type: 'jsonb', nullable: true })
  response: unknown;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Index('idx_idempotency_keys_expires_at')
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
