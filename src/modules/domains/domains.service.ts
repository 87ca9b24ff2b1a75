import { Injectable } from '@nestjs/common';
import { DomainNotVerifiedError, NotFoundError } from 'src/common/errors/app-error';
import { AppConfig } from 'src/config/app-config';
import { DnsClient } from 'src/infra/dns/dns.client';
import {
  type CheckStatus,
  checkDomainDns,
  type DnsCheckResult,
  isVerified,
  normalizeDkimKey,
} from 'src/modules/domains/dns-checks';
import {
  DOMAIN_CURSOR,
  DOMAIN_LIST_DEFAULT_LIMIT,
  DomainListQueryDto,
  DomainListResponseDto,
  DomainResponseDto,
  normalizeDomainName,
} from 'src/modules/domains/dto/domain.dto';
import { DomainStatus, SendingDomain } from 'src/modules/domains/sending-domain.entity';
import { SendingDomainsRepository } from 'src/modules/domains/sending-domains.repository';

/** How long a process trusts its list of verified domains (the send path's cache). */
export const VERIFIED_CACHE_TTL_MS = 10_000;

/** The outcome of checking one domain: what it was, what it is, which records broke. */
export interface DomainCheckOutcome {
  domain: DomainResponseDto;
  previousStatus: DomainStatus;
  /** Checks that passed (or warned) at the last check and fail now; not lookup failures. */
  broke: DnsCheckResult[];
}

/** Sending statistics of one From domain, as the emails module counts them. */
export interface SenderDomainStats {
  /** Messages that left (sent or later) in the window. */
  sent: number;
  complained: number;
  broadcast: number;
  /** Broadcast messages sent without the List-Unsubscribe headers. */
  broadcastWithoutUnsubscribe: number;
  windowDays: number;
}

export interface ComplianceCheck {
  check: 'dns' | 'one_click_unsubscribe' | 'complaint_rate' | 'tls_to_postal';
  label: string;
  status: CheckStatus;
  message: string;
  fix: string | null;
}

/** Gmail's and Yahoo's bulk-sender spam-rate thresholds (2024): stay under 0.1 %, never 0.3 %. */
export const COMPLAINT_RATE_WARN = 0.1;
export const COMPLAINT_RATE_FAIL = 0.3;

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

/**
 * Sending domains (README "Sending domains"): the domains this service sends From, their DNS
 * checks against what Postal expects (dns-checks.ts), whether a From domain may send, and the
 * bulk-sender compliance shown on the dashboard.
 */
@Injectable()
export class DomainsService {
  private verifiedCache?: { names: ReadonlySet<string>; loadedAt: number };
  private loading?: Promise<ReadonlySet<string>>;

  constructor(
    private readonly repo: SendingDomainsRepository,
    private readonly dns: DnsClient,
    private readonly config: AppConfig,
  ) {}

  /** Adds the domain (or updates its DKIM selector and key) and checks its DNS at once. */
  async add(input: {
    domain: string;
    dkimSelector?: string;
    dkimPublicKey?: string;
  }): Promise<{ domain: DomainResponseDto; created: boolean }> {
    const name = this.nameOrThrow(input.domain);
    const { row, created } = await this.repo.upsert(name, {
      dkimSelector: input.dkimSelector ?? null,
      dkimPublicKey: input.dkimPublicKey ? normalizeDkimKey(input.dkimPublicKey) : null,
    });
    const outcome = await this.check(row);
    return { domain: outcome.domain, created };
  }

  async get(domain: string): Promise<DomainResponseDto> {
    return toResponse(await this.findOrThrow(domain));
  }

  async list(q: DomainListQueryDto): Promise<DomainListResponseDto> {
    const limit = q.limit ?? DOMAIN_LIST_DEFAULT_LIMIT;
    const rows = await this.repo.list(
      limit + 1,
      q.cursor ? DOMAIN_CURSOR.decode(q.cursor) : undefined,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toResponse),
      next_cursor: rows.length > limit && last ? DOMAIN_CURSOR.encode(last.id) : null,
    };
  }

  /** Every domain with its last check, by name (dashboard, doctor). */
  async all(): Promise<DomainResponseDto[]> {
    return (await this.repo.all()).map(toResponse);
  }

  /** Removes the domain; resolves to its stored name. */
  async remove(domain: string): Promise<string> {
    const name = normalizeDomainName(domain);
    if (!name || !(await this.repo.remove(name)))
      throw new NotFoundError(`${name ?? 'That'} is not a sending domain`);
    this.verifiedCache = undefined;
    return name;
  }

  /** Checks one domain's DNS now and stores the result. */
  async verify(domain: string): Promise<DomainResponseDto> {
    return (await this.check(await this.findOrThrow(domain))).domain;
  }

  /** Checks every domain's DNS now and stores the results (the daily re-check, the doctor). */
  async checkAll(): Promise<DomainCheckOutcome[]> {
    const outcomes: DomainCheckOutcome[] = [];
    // One domain at a time: a few lookups each, and no burst against the resolver.
    for (const row of await this.repo.all()) outcomes.push(await this.check(row));
    return outcomes;
  }

  /**
   * Refuses a From domain that is not verified, when REQUIRE_VERIFIED_DOMAINS is on. On the send
   * path: answered from a per-process list of verified domains, reloaded every
   * VERIFIED_CACHE_TTL_MS (one query for all of them), so a send costs no query.
   */
  async assertMaySendFrom(domain: string): Promise<void> {
    if (!this.config.domains.requireVerified) return;
    const name = domain.toLowerCase();
    if ((await this.verifiedNames()).has(name)) return;
    const known = await this.repo.findByName(name);
    throw new DomainNotVerifiedError(name, known !== null);
  }

  /**
   * Gmail and Yahoo's bulk-sender rules (2024) for one domain: its DNS checks, one-click
   * unsubscribe on broadcast mail, the complaint rate against 0.1 % / 0.3 %, TLS to Postal.
   */
  compliance(domain: DomainResponseDto, stats: SenderDomainStats): ComplianceCheck[] {
    const failing = domain.checks.filter((c) => c.status === 'fail').map((c) => c.check);
    const warning = domain.checks.filter((c) => c.status === 'warn').map((c) => c.check);
    const dns: ComplianceCheck = {
      check: 'dns',
      label: 'SPF, DKIM and DMARC',
      status: failing.length ? 'fail' : warning.length ? 'warn' : 'pass',
      message: failing.length
        ? `failing: ${failing.join(', ')}`
        : warning.length
          ? `passing, with advice on ${warning.join(', ')}`
          : domain.checked_at
            ? 'every record as expected'
            : 'not checked yet',
      fix: failing.length || warning.length ? 'Publish the records listed below' : null,
    };
    const https = this.config.publicUrl.startsWith('https://');
    const unsubscribe: ComplianceCheck = {
      check: 'one_click_unsubscribe',
      label: 'One-click unsubscribe on broadcast mail',
      status: 'pass',
      message:
        stats.broadcast === 0
          ? `no broadcast mail in the last ${stats.windowDays} days`
          : `all ${stats.broadcast} broadcast messages of the last ${stats.windowDays} days carried List-Unsubscribe and List-Unsubscribe-Post`,
      fix: null,
    };
    if (stats.broadcastWithoutUnsubscribe > 0) {
      unsubscribe.status = 'fail';
      unsubscribe.message = `${stats.broadcastWithoutUnsubscribe} of ${stats.broadcast} broadcast messages of the last ${stats.windowDays} days went out without one-click unsubscribe (sent with "unsubscribe": false)`;
      unsubscribe.fix = 'Stop sending broadcast mail with "unsubscribe": false';
    } else if (!https) {
      unsubscribe.status = stats.broadcast > 0 ? 'fail' : 'warn';
      unsubscribe.message = `PUBLIC_URL is ${this.config.publicUrl}: Gmail and Yahoo take one-click unsubscribe only over HTTPS (RFC 8058)`;
      unsubscribe.fix = 'Serve the service over HTTPS and set PUBLIC_URL to the https:// address';
    }
    const rate = stats.sent > 0 ? (stats.complained / stats.sent) * 100 : 0;
    const rateText = `${rate.toFixed(3)} % (${stats.complained} complaints / ${stats.sent} sent, last ${stats.windowDays} days)`;
    const complaints: ComplianceCheck = {
      check: 'complaint_rate',
      label: 'Complaint rate (under 0.1 %, never 0.3 %)',
      status: rate >= COMPLAINT_RATE_FAIL ? 'fail' : rate >= COMPLAINT_RATE_WARN ? 'warn' : 'pass',
      message: stats.sent === 0 ? `nothing sent in the last ${stats.windowDays} days` : rateText,
      fix:
        rate >= COMPLAINT_RATE_WARN
          ? 'Send only to people who asked for it, make unsubscribing easy, drop unengaged recipients'
          : null,
    };
    return [dns, unsubscribe, complaints, this.tlsToPostal()];
  }

  /** Whether deliveries to Postal travel over TLS (POSTAL_URL). */
  tlsToPostal(): ComplianceCheck {
    const url = this.config.postal.url;
    const base = { check: 'tls_to_postal' as const, label: 'TLS to Postal' };
    if (this.config.mailTransport !== 'postal' || !url)
      return {
        ...base,
        status: 'warn',
        message: 'the sandbox transport is in use: no mail leaves this service',
        fix: 'Set POSTAL_URL and POSTAL_API_KEY (README "Postal set-up")',
      };
    if (url.startsWith('https://'))
      return { ...base, status: 'pass', message: `POSTAL_URL is ${url}`, fix: null };
    const loopback = /^http:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:|\/|$)/i.test(url);
    return loopback
      ? {
          ...base,
          status: 'pass',
          message: `POSTAL_URL is ${url}: plain HTTP on this host only`,
          fix: null,
        }
      : {
          ...base,
          status: 'fail',
          message: `POSTAL_URL is ${url}: messages and the API key cross the network unencrypted`,
          fix: 'Use https:// in POSTAL_URL (Postal behind its TLS proxy)',
        };
  }

  private async check(row: SendingDomain): Promise<DomainCheckOutcome> {
    const checks = await checkDomainDns(
      this.dns,
      row.domain,
      { selector: row.dkimSelector, publicKey: row.dkimPublicKey },
      this.config.domains,
    );
    const now = new Date();
    const ok = isVerified(checks);
    const lookupFailed = checks.some((c) => c.lookup_failed);
    let status: DomainStatus;
    if (ok) status = 'verified';
    else if (lookupFailed)
      status = row.status; // a resolver problem says nothing of the records
    else status = row.status === 'pending' ? 'pending' : 'failing';
    const verifiedAt = status === 'verified' ? (row.verifiedAt ?? now) : null;
    await this.repo.saveCheck(row.id, { status, checks, checkedAt: now, verifiedAt });
    if (status !== row.status) this.verifiedCache = undefined;
    const before = new Map(row.checks.map((c) => [c.check, c.status]));
    const broke = checks.filter(
      (c) =>
        c.status === 'fail' &&
        !c.lookup_failed &&
        ['pass', 'warn'].includes(before.get(c.check) ?? ''),
    );
    return {
      domain: toResponse({ ...row, status, checks, checkedAt: now, verifiedAt }),
      previousStatus: row.status,
      broke,
    };
  }

  private async verifiedNames(): Promise<ReadonlySet<string>> {
    const cached = this.verifiedCache;
    if (cached && Date.now() - cached.loadedAt < VERIFIED_CACHE_TTL_MS) return cached.names;
    this.loading ??= this.repo
      .verifiedNames()
      .then((names) => {
        const set = new Set(names);
        this.verifiedCache = { names: set, loadedAt: Date.now() };
        return set;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  private nameOrThrow(domain: string): string {
    const name = normalizeDomainName(domain);
    if (!name) throw new NotFoundError(`${domain} is not a domain name`);
    return name;
  }

  private async findOrThrow(domain: string): Promise<SendingDomain> {
    const name = normalizeDomainName(domain);
    const row = name ? await this.repo.findByName(name) : null;
    if (!row) throw new NotFoundError(`${name ?? 'That'} is not a sending domain`);
    return row;
  }
}

function toResponse(row: SendingDomain): DomainResponseDto {
  return {
    domain: row.domain,
    status: row.status,
    verified: row.status === 'verified',
    dkim_selector: row.dkimSelector,
    dkim_public_key: row.dkimPublicKey,
    checks: row.checks,
    checked_at: iso(row.checkedAt),
    verified_at: iso(row.verifiedAt),
    created_at: new Date(row.createdAt).toISOString(),
  };
}
