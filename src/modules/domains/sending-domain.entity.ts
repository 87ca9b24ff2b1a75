import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import type { DnsCheckResult } from 'src/modules/domains/dns-checks';

/**
 * `pending`: never passed its checks; `verified`: its last check had no failure; `failing`:
 * verified once, and a record has broken since (README "Sending domains").
 */
export const DOMAIN_STATUSES = ['pending', 'verified', 'failing'] as const;
export type DomainStatus = (typeof DOMAIN_STATUSES)[number];

/** A domain this service sends From, with what its DNS looked like at the last check. */
@Entity('sending_domains')
@Check(
  'sending_domains_status_check',
  `status IN (${DOMAIN_STATUSES.map((s) => `'${s}'`).join(', ')})`,
)
export class SendingDomain {
  @PrimaryGeneratedColumn('identity', {
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_sending_domains',
  })
  id: number;

  /** Lower-case, no trailing dot. */
  @Index('uq_sending_domains_domain', { unique: true })
  @Column({ type: 'varchar', length: 253 })
  domain: string;

  /** Postal's DKIM selector for the domain (`postal-AbC123`): the record is `<selector>._domainkey`. */
  @Column({ name: 'dkim_selector', type: 'varchar', length: 63, nullable: true })
  dkimSelector: string | null;

  /** Base64 SPKI of Postal's DKIM key for the domain (the `p=` value). */
  @Column({ name: 'dkim_public_key', type: 'text', nullable: true })
  dkimPublicKey: string | null;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DomainStatus;

  /** The last check's results, one per DNS check (src/modules/domains/dns-checks.ts). */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  checks: DnsCheckResult[];

  @Column({ name: 'checked_at', type: 'timestamptz', nullable: true })
  checkedAt: Date | null;

  /** Since when it has been verified without a break; null when it is not verified now. */
  @Column({ name: 'verified_at', type: 'timestamptz', nullable: true })
  verifiedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
