import { Resolver } from 'node:dns/promises';
import { Injectable } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';

/** A lookup that did not answer (timeout, refused, SERVFAIL): not the same as "no record". */
export class DnsLookupError extends Error {
  constructor(
    readonly query: string,
    readonly rrtype: string,
    readonly code: string,
  ) {
    super(`DNS ${rrtype} lookup of ${query} failed (${code})`);
    this.name = 'DnsLookupError';
  }
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** Answers that mean "the name has no such record", not "the lookup failed". */
const NO_RECORD = new Set(['ENODATA', 'ENOTFOUND', 'NXDOMAIN']);

const host = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/**
 * DNS lookups for the sending-domain checks (README "Sending domains"), through node:dns's
 * `Resolver` on the servers in DNS_SERVERS (the system's when unset). A name without the record
 * answers `[]`; a lookup that fails (timeout, SERVFAIL, refused) throws DnsLookupError, so a
 * broken resolver is never mistaken for a missing record.
 */
@Injectable()
export class DnsClient {
  private readonly resolver: Resolver;

  constructor(config: AppConfig) {
    this.resolver = new Resolver({ timeout: config.domains.dnsTimeoutMs, tries: 2 });
    if (config.domains.dnsServers.length) this.resolver.setServers(config.domains.dnsServers);
  }

  /** TXT records, each one's character-strings joined (RFC 7208 §3.3). */
  async txt(name: string): Promise<string[]> {
    const records = await this.lookup(name, 'TXT', () => this.resolver.resolveTxt(name));
    return records.map((chunks) => chunks.join(''));
  }

  async mx(name: string): Promise<MxRecord[]> {
    const records = await this.lookup(name, 'MX', () => this.resolver.resolveMx(name));
    return records.map((r) => ({ exchange: host(r.exchange), priority: r.priority }));
  }

  async cname(name: string): Promise<string[]> {
    return (await this.lookup(name, 'CNAME', () => this.resolver.resolveCname(name))).map(host);
  }

  /** IPv4 and IPv6 addresses of a name (for SPF's `a`/`mx` mechanisms: existence only). */
  async addresses(name: string): Promise<string[]> {
    const [v4, v6] = await Promise.all([
      this.lookup(name, 'A', () => this.resolver.resolve4(name)),
      this.lookup(name, 'AAAA', () => this.resolver.resolve6(name)),
    ]);
    return [...v4, ...v6];
  }

  private async lookup<T>(name: string, rrtype: string, run: () => Promise<T[]>): Promise<T[]> {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'EUNKNOWN';
      if (NO_RECORD.has(code)) return [];
      throw new DnsLookupError(name, rrtype, code);
    }
  }
}
