import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, Repository } from 'typeorm';
import type { DnsCheckResult } from 'src/modules/domains/dns-checks';
import { DomainStatus, SendingDomain } from 'src/modules/domains/sending-domain.entity';

export interface DomainKeys {
  dkimSelector: string | null;
  dkimPublicKey: string | null;
}

/** The `sending_domains` table (README "Sending domains"). */
@Injectable()
export class SendingDomainsRepository {
  constructor(@InjectRepository(SendingDomain) private readonly repo: Repository<SendingDomain>) {}

  findByName(domain: string): Promise<SendingDomain | null> {
    return this.repo.findOneBy({ domain });
  }

  /**
   * Inserts the domain or, when it exists, replaces its DKIM selector and key (a null leaves the
   * stored value). `created` tells the two apart.
   */
  async upsert(
    domain: string,
    keys: DomainKeys,
  ): Promise<{ row: SendingDomain; created: boolean }> {
    const rows: Array<{ id: number; created: boolean }> = await this.repo.query(
      `INSERT INTO sending_domains (domain, dkim_selector, dkim_public_key)
       VALUES ($1, $2, $3)
       ON CONFLICT (domain) DO UPDATE
          SET dkim_selector = COALESCE(EXCLUDED.dkim_selector, sending_domains.dkim_selector),
              dkim_public_key = COALESCE(EXCLUDED.dkim_public_key, sending_domains.dkim_public_key),
              updated_at = now()
       RETURNING id, (xmax = 0) AS created`,
      [domain, keys.dkimSelector, keys.dkimPublicKey],
    );
    return { row: await this.repo.findOneByOrFail({ id: rows[0].id }), created: rows[0].created };
  }

  /** Newest first, `limit` rows with an id below `beforeId`. */
  list(limit: number, beforeId?: number): Promise<SendingDomain[]> {
    return this.repo.find({
      where: beforeId === undefined ? {} : { id: LessThan(beforeId) },
      order: { id: 'DESC' },
      take: limit,
    });
  }

  /** Every domain, by name (the daily re-check, the doctor, the dashboard). */
  all(): Promise<SendingDomain[]> {
    return this.repo.find({ order: { domain: 'ASC' } });
  }

  async remove(domain: string): Promise<boolean> {
    const result = await this.repo.delete({ domain });
    return (result.affected ?? 0) > 0;
  }

  async saveCheck(
    id: number,
    values: {
      status: DomainStatus;
      checks: DnsCheckResult[];
      checkedAt: Date;
      verifiedAt: Date | null;
    },
  ): Promise<void> {
    await this.repo.update(
      { id },
      {
        status: values.status,
        checks: values.checks,
        checkedAt: values.checkedAt,
        verifiedAt: values.verifiedAt,
      },
    );
  }

  /** Names of the domains verified now (the send path's cache). */
  async verifiedNames(): Promise<string[]> {
    const rows: Array<{ domain: string }> = await this.repo.query(
      `SELECT domain FROM sending_domains WHERE status = 'verified'`,
    );
    return rows.map((r) => r.domain);
  }
}
