import type { DomainsConfig } from 'src/config/app-config';
import { DnsLookupError, type DnsClient } from 'src/infra/dns/dns.client';

/**
 * The DNS checks of a sending domain (README "Sending domains"), against what Postal expects
 * (postalserver/postal app/models/domain.rb `spf_record`, `dkim_record`, `dkim_record_name`,
 * `return_path_domain`; app/models/concerns/has_dns_checks.rb) plus what Postal does not check:
 * SPF's 10-lookup limit and `+all` (RFC 7208), and DMARC (RFC 7489), which Gmail and Yahoo
 * require of bulk senders since 2024.
 */

export const CHECK_STATUSES = ['pass', 'warn', 'fail'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export const DNS_CHECK_NAMES = ['spf', 'dkim', 'dmarc', 'return_path', 'mx'] as const;
export type DnsCheckName = (typeof DNS_CHECK_NAMES)[number];

export interface DnsCheckResult {
  check: DnsCheckName;
  status: CheckStatus;
  /** The name looked up, e.g. `_dmarc.example.com`. */
  host: string;
  /** Type of the record to publish at `host`. */
  type: 'TXT' | 'CNAME' | 'MX';
  /** What DNS answered (records as text). */
  found: string[];
  /** The exact record to publish at `host` (null: nothing to publish, e.g. no key known). */
  expected: string | null;
  /** One line: what is right or wrong. */
  message: string;
  /** What to do; null when the check passes. */
  fix: string | null;
  /** The lookup itself failed (timeout, SERVFAIL): the verdict says nothing about the record. */
  lookup_failed?: boolean;
}

/** What a domain brings to its checks: its Postal DKIM selector and public key, when known. */
export interface DomainDkim {
  selector: string | null;
  publicKey: string | null;
}

export type DnsLookup = Pick<DnsClient, 'txt' | 'mx' | 'cname'>;

/** RFC 7208 §4.6.4: at most 10 terms that cause DNS lookups, counted through includes. */
export const SPF_LOOKUP_LIMIT = 10;
/** Includes followed at most this deep (a loop or a runaway chain stops here). */
const SPF_MAX_DEPTH = 10;
const SPF_LOOKUP_TERMS = new Set(['include', 'a', 'mx', 'ptr', 'exists']);

const lower = (s: string): string => s.toLowerCase().replace(/\.$/, '');

/**
 * A DKIM public key as it appears in a `p=` tag: the base64 of the SPKI DER, without PEM
 * armour, quotes or whitespace. Accepts the bare key, a PEM, or a whole `v=DKIM1; …; p=…` record.
 */
export function normalizeDkimKey(value: string): string {
  const text = value.replace(/\\n/g, '\n');
  if (/-----BEGIN/.test(text)) return text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const tags = parseTags(text.replace(/"/g, ''));
  return (tags.get('p') ?? text).replace(/[\s"]+/g, '');
}

/** `k=v; k=v` tag lists (DKIM RFC 6376 §3.2, DMARC RFC 7489 §6.4): names lower-cased. */
export function parseTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name && !tags.has(name)) tags.set(name, part.slice(eq + 1).trim());
  }
  return tags;
}

/** Postal's DKIM record for a key (app/models/domain.rb `dkim_record`), trailing `;` included. */
export function postalDkimRecord(publicKey: string): string {
  return `v=DKIM1; t=s; h=sha256; p=${normalizeDkimKey(publicKey)};`;
}

/** Postal's SPF record (app/models/domain.rb `spf_record`). */
export function postalSpfRecord(spfInclude: string): string {
  return `v=spf1 a mx include:${spfInclude} ~all`;
}

/**
 * Second-level public suffixes under which an organizational domain has three labels. An
 * approximation of the Public Suffix List that RFC 7489 §3.2 names: enough for the common
 * country registries; anything else takes the last two labels.
 */
const TWO_LABEL_SUFFIXES = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'ltd.uk', 'plc.uk', 'me.uk', 'net.uk',
  'com.au', 'net.au', 'org.au', 'edu.au', 'gov.au',
  'co.nz', 'org.nz', 'net.nz',
  'co.jp', 'ne.jp', 'or.jp', 'ac.jp',
  'com.br', 'net.br', 'org.br',
  'co.za', 'org.za',
  'com.cn', 'net.cn', 'org.cn',
  'co.in', 'net.in', 'org.in',
  'com.mx', 'com.ar', 'com.tr', 'com.sg', 'com.hk', 'co.kr', 'co.il', 'com.tw',
]); // prettier-ignore

/** The organizational domain (RFC 7489 §3.2) of a name, by the approximation above. */
export function organizationalDomain(domain: string): string {
  const labels = lower(domain).split('.');
  const lastTwo = labels.slice(-2).join('.');
  return labels.slice(TWO_LABEL_SUFFIXES.has(lastTwo) ? -3 : -2).join('.');
}

type CheckVerdict = Omit<DnsCheckResult, 'check' | 'host' | 'type'>;

/** Runs one check, turning a failed lookup into a `fail` that says so. */
async function guarded(
  check: DnsCheckName,
  host: string,
  type: DnsCheckResult['type'],
  expected: string | null,
  run: () => Promise<CheckVerdict>,
): Promise<DnsCheckResult> {
  try {
    return { check, host, type, ...(await run()) };
  } catch (err) {
    if (!(err instanceof DnsLookupError)) throw err;
    return {
      check,
      host,
      type,
      status: 'fail',
      found: [],
      expected,
      message: `${err.message}: the record could not be checked`,
      fix: 'Check that DNS_SERVERS answer (or the system resolver, when unset), then re-check',
      lookup_failed: true,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// SPF

interface SpfTerm {
  qualifier: string;
  name: string;
  value: string | null;
}

function spfTerms(record: string): SpfTerm[] {
  return record
    .trim()
    .split(/\s+/)
    .slice(1)
    .map((raw) => {
      const modifier = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(raw);
      if (modifier)
        return { qualifier: '', name: `${modifier[1].toLowerCase()}=`, value: modifier[2] };
      const m = /^([+\-~?]?)([a-z0-9]+)(?:[:/](.*))?$/i.exec(raw);
      if (!m) return { qualifier: '', name: raw.toLowerCase(), value: null };
      return { qualifier: m[1], name: m[2].toLowerCase(), value: m[3] ?? null };
    });
}

const spfRecordsOf = (txt: string[]): string[] => txt.filter((t) => /^v=spf1(\s|$)/i.test(t));

/**
 * DNS-querying terms of a domain's SPF policy, counted through `include:` and `redirect=`
 * (RFC 7208 §4.6.4). Throws a plain Error for a permerror (an included domain without exactly
 * one SPF record, an include loop).
 */
async function countSpfLookups(
  dns: DnsLookup,
  record: string,
  depth: number,
  seen: Set<string>,
): Promise<number> {
  let count = 0;
  const terms = spfTerms(record);
  const hasAll = terms.some((t) => t.name === 'all');
  for (const term of terms) {
    const isRedirect = term.name === 'redirect=';
    if (!SPF_LOOKUP_TERMS.has(term.name) && !isRedirect) continue;
    if (isRedirect && hasAll) continue; // RFC 7208 §6.1: redirect is ignored when `all` exists
    count += 1;
    if (count > SPF_LOOKUP_LIMIT) return count;
    if (term.name !== 'include' && !isRedirect) continue;
    const target = lower(term.value ?? '');
    if (!target || target.includes('%')) continue; // macros are expanded per message; not followed
    if (seen.has(target) || depth >= SPF_MAX_DEPTH)
      throw new Error(`the include chain loops or is deeper than ${SPF_MAX_DEPTH} at ${target}`);
    const records = spfRecordsOf(await dns.txt(target));
    if (records.length !== 1) {
      throw new Error(
        `${isRedirect ? 'redirect' : 'include'}:${target} has ${records.length} SPF records (needs exactly one)`,
      );
    }
    const nested = await countSpfLookups(dns, records[0], depth + 1, new Set([...seen, target]));
    count += nested;
    if (count > SPF_LOOKUP_LIMIT) return count;
  }
  return count;
}

/** The domain's SPF record with Postal's include added before its `all` (or at the end). */
function withInclude(record: string, include: string): string {
  const terms = record.trim().split(/\s+/);
  const allAt = terms.findIndex((t, i) => i > 0 && /^[+\-~?]?all$/i.test(t));
  const redirectAt = terms.findIndex((t) => /^redirect=/i.test(t));
  const at = allAt >= 0 ? allAt : redirectAt >= 0 ? redirectAt : terms.length;
  terms.splice(at, 0, `include:${include}`);
  return terms.join(' ');
}

export async function checkSpf(
  dns: DnsLookup,
  domain: string,
  config: Pick<DomainsConfig, 'spfInclude'>,
): Promise<DnsCheckResult> {
  const include = config.spfInclude;
  const fresh = include ? postalSpfRecord(include) : null;
  return guarded('spf', domain, 'TXT', fresh, async () => {
    const records = spfRecordsOf(await dns.txt(domain));
    if (records.length === 0) {
      return {
        status: 'fail',
        found: [],
        expected: fresh,
        message: 'No SPF record (TXT starting "v=spf1")',
        fix: fresh
          ? `Publish a TXT record at ${domain}: ${fresh}`
          : `Publish an SPF TXT record at ${domain} that includes your Postal's SPF host (set POSTAL_SPF_INCLUDE to check it)`,
      };
    }
    if (records.length > 1) {
      const merged = include && records[0] ? withInclude(records[0], include) : fresh;
      return {
        status: 'fail',
        found: records,
        expected: merged,
        message: `${records.length} SPF records: receivers treat that as a permanent error (RFC 7208 §4.5)`,
        fix: `Merge them into one TXT record at ${domain}${merged ? `: ${merged}` : ''}`,
      };
    }
    const record = records[0];
    const terms = spfTerms(record);
    const problems: string[] = [];
    const warnings: string[] = [];
    const all = terms.find((t) => t.name === 'all');
    if (all && (all.qualifier === '' || all.qualifier === '+'))
      problems.push(`"${all.qualifier}all" lets any server on the internet send as ${domain}`);
    else if (all?.qualifier === '?') warnings.push('"?all" is neutral: prefer "~all" or "-all"');
    const hasInclude =
      include !== undefined &&
      terms.some((t) => t.name === 'include' && lower(t.value ?? '') === include);
    if (include && !hasInclude) problems.push(`it does not include ${include} (Postal's SPF host)`);
    let lookups: number | null = null;
    try {
      lookups = await countSpfLookups(dns, record, 0, new Set([lower(domain)]));
      if (lookups > SPF_LOOKUP_LIMIT)
        problems.push(
          `it needs more than ${SPF_LOOKUP_LIMIT} DNS lookups (RFC 7208 §4.6.4): receivers fail it`,
        );
    } catch (err) {
      if (err instanceof DnsLookupError) throw err;
      problems.push((err as Error).message);
    }
    let expected = record;
    if (include && !hasInclude) expected = withInclude(expected, include);
    if (all && (all.qualifier === '' || all.qualifier === '+'))
      expected = expected.replace(/(^|\s)[+]?all(\s|$)/i, '$1~all$2');
    if (problems.length) {
      return {
        status: 'fail',
        found: records,
        expected,
        message: `SPF record is wrong: ${problems.join('; ')}`,
        fix:
          lookups !== null && lookups > SPF_LOOKUP_LIMIT
            ? `Replace the TXT record at ${domain} with one needing at most ${SPF_LOOKUP_LIMIT} lookups (drop unused includes, use ip4:/ip6: for fixed servers)${expected !== record ? `, e.g.: ${expected}` : ''}`
            : `Replace the TXT record at ${domain} with: ${expected}`,
      };
    }
    const detail = `${lookups ?? '?'} of ${SPF_LOOKUP_LIMIT} DNS lookups`;
    if (warnings.length || !include) {
      return {
        status: 'warn',
        found: records,
        expected,
        message: `SPF record found (${detail}); ${[...warnings, ...(include ? [] : ['POSTAL_SPF_INCLUDE is not set, so the include of Postal could not be checked'])].join('; ')}`,
        fix: include
          ? `Replace the TXT record at ${domain} with one ending "~all" or "-all"`
          : "Set POSTAL_SPF_INCLUDE to Postal's dns.spf_include",
      };
    }
    return {
      status: 'pass',
      found: records,
      expected,
      message: `SPF includes ${include}; ${detail}`,
      fix: null,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// DKIM

export async function checkDkim(
  dns: DnsLookup,
  domain: string,
  dkim: DomainDkim,
): Promise<DnsCheckResult> {
  if (!dkim.selector || !dkim.publicKey) {
    return {
      check: 'dkim',
      host: dkim.selector
        ? `${dkim.selector}._domainkey.${domain}`
        : `<selector>._domainkey.${domain}`,
      type: 'TXT',
      status: 'fail',
      found: [],
      expected: null,
      message: "Postal's DKIM selector and public key for this domain are not known here",
      fix: `Copy the DKIM record name and value from the domain's DNS page in Postal and re-add the domain with dkim_selector and dkim_public_key (POST /api/v1/domains)`,
    };
  }
  const host = `${dkim.selector}._domainkey.${domain}`;
  const expected = postalDkimRecord(dkim.publicKey);
  const key = normalizeDkimKey(dkim.publicKey);
  return guarded('dkim', host, 'TXT', expected, async () => {
    const records = await dns.txt(host);
    if (records.length === 0) {
      return {
        status: 'fail',
        found: [],
        expected,
        message: `No DKIM record at ${host}: receivers cannot verify Postal's signatures`,
        fix: `Publish a TXT record at ${host}: ${expected}`,
      };
    }
    if (records.length > 1) {
      return {
        status: 'fail',
        found: records,
        expected,
        message: `${records.length} TXT records at ${host}; there must be exactly one`,
        fix: `Delete all but one TXT record at ${host}, with the value: ${expected}`,
      };
    }
    const found = parseTags(records[0]).get('p')?.replace(/\s+/g, '') ?? '';
    if (found !== key) {
      return {
        status: 'fail',
        found: records,
        expected,
        message:
          found === ''
            ? `The DKIM record at ${host} has no key (p= is missing or empty)`
            : `The DKIM record at ${host} holds another key than Postal signs with (pasted wrong or truncated?)`,
        fix: `Replace the TXT record at ${host} with: ${expected}`,
      };
    }
    return {
      status: 'pass',
      found: records,
      expected,
      message: `DKIM key at ${host} matches Postal's`,
      fix: null,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// DMARC

const dmarcRecordsOf = (txt: string[]): string[] =>
  txt.filter((t) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(t.trim()));

export async function checkDmarc(dns: DnsLookup, domain: string): Promise<DnsCheckResult> {
  const host = `_dmarc.${domain}`;
  const suggested = `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}; adkim=r; aspf=r`;
  return guarded('dmarc', host, 'TXT', suggested, async () => {
    let records = dmarcRecordsOf(await dns.txt(host));
    let inheritedFrom: string | null = null;
    const org = organizationalDomain(domain);
    // RFC 7489 §6.6.3: no record at the From domain → the organizational domain's, whose `sp`
    // (else `p`) applies to its subdomains.
    if (records.length === 0 && org !== lower(domain)) {
      records = dmarcRecordsOf(await dns.txt(`_dmarc.${org}`));
      if (records.length) inheritedFrom = org;
    }
    if (records.length === 0) {
      return {
        status: 'fail',
        found: [],
        expected: suggested,
        message: `No DMARC record at ${host}${org !== lower(domain) ? ` nor _dmarc.${org}` : ''}: Gmail and Yahoo require one of bulk senders`,
        fix: `Publish a TXT record at ${host}: ${suggested} (rua: a mailbox you read; move p to quarantine or reject once the reports are clean)`,
      };
    }
    const where = inheritedFrom ? `_dmarc.${inheritedFrom}` : host;
    if (records.length > 1) {
      return {
        status: 'fail',
        found: records,
        expected: suggested,
        message: `${records.length} DMARC records at ${where}: receivers then apply none (RFC 7489 §6.6.3)`,
        fix: `Keep exactly one TXT record at ${where}`,
      };
    }
    const tags = parseTags(records[0]);
    const policy = (
      inheritedFrom ? (tags.get('sp') ?? tags.get('p')) : tags.get('p')
    )?.toLowerCase();
    const suffix = inheritedFrom ? ` (inherited from ${inheritedFrom})` : '';
    if (!policy || !['none', 'quarantine', 'reject'].includes(policy)) {
      return {
        status: 'fail',
        found: records,
        expected: suggested,
        message: `The DMARC record at ${where} has no valid policy (p=none|quarantine|reject)`,
        fix: `Replace the TXT record at ${where} with: ${suggested}`,
      };
    }
    const notes: string[] = [];
    if (policy === 'none')
      notes.push(
        'p=none only monitors (enough for Gmail/Yahoo; quarantine or reject protects the domain)',
      );
    if (!tags.get('rua')) notes.push('no rua=: nobody receives the aggregate reports');
    if (tags.get('aspf')?.toLowerCase() === 's')
      notes.push(
        "aspf=s: SPF can never align, Postal's return path is a subdomain (DKIM alignment still carries DMARC)",
      );
    const alignment = `adkim=${tags.get('adkim')?.toLowerCase() ?? 'r'}, aspf=${tags.get('aspf')?.toLowerCase() ?? 'r'}`;
    const summary = `DMARC p=${policy}${suffix}, ${alignment}${tags.get('rua') ? `, rua=${tags.get('rua')}` : ''}`;
    if (notes.length) {
      return {
        status: 'warn',
        found: records,
        expected: inheritedFrom ? records[0] : suggested.replace('p=none', `p=${policy}`),
        message: `${summary}; ${notes.join('; ')}`,
        fix: `Adjust the TXT record at ${where}: ${notes.join('; ')}`,
      };
    }
    return { status: 'pass', found: records, expected: records[0], message: summary, fix: null };
  });
}

// ---------------------------------------------------------------------------------------------
// Return path

export async function checkReturnPath(
  dns: DnsLookup,
  domain: string,
  config: Pick<DomainsConfig, 'returnPathHost' | 'returnPathPrefix'>,
): Promise<DnsCheckResult> {
  const host = `${config.returnPathPrefix}.${domain}`;
  const target = config.returnPathHost;
  return guarded('return_path', host, 'CNAME', target ?? null, async () => {
    const records = await dns.cname(host);
    if (!target) {
      return {
        status: 'warn',
        found: records,
        expected: null,
        message: 'POSTAL_RETURN_PATH_HOST is not set: the return path CNAME cannot be checked',
        fix: "Set POSTAL_RETURN_PATH_HOST to Postal's dns.return_path_domain",
      };
    }
    if (records.length === 0) {
      return {
        status: 'warn',
        found: [],
        expected: target,
        message: `No CNAME at ${host}: Postal uses its own return path, so SPF does not align with ${domain} (DKIM still can)`,
        fix: `Publish a CNAME at ${host} pointing to ${target}`,
      };
    }
    if (records.length === 1 && records[0] === target) {
      return {
        status: 'pass',
        found: records,
        expected: target,
        message: `${host} is a CNAME of ${target}`,
        fix: null,
      };
    }
    return {
      status: 'fail',
      found: records,
      expected: target,
      message: `${host} points to ${records.join(', ')}, not ${target}: bounces will not reach Postal`,
      fix: `Change the CNAME at ${host} to ${target}`,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// MX

export async function checkMx(
  dns: DnsLookup,
  domain: string,
  config: Pick<DomainsConfig, 'mxHosts'>,
): Promise<DnsCheckResult> {
  const wanted = config.mxHosts;
  const expected = wanted.length ? wanted.map((h) => `10 ${h}`).join(', ') : null;
  return guarded('mx', domain, 'MX', expected, async () => {
    const records = await dns.mx(domain);
    const found = records.map((r) => `${r.priority} ${r.exchange}`);
    if (records.length === 0) {
      return {
        status: 'fail',
        found,
        expected,
        message: `${domain} has no MX record: replies, bounces and feedback-loop reports to it cannot be delivered, and some receivers refuse such senders`,
        fix: expected
          ? `Publish MX records at ${domain}: ${expected} (or your own mail servers, with the FBL/inbound address on a domain Postal receives for)`
          : `Publish MX records at ${domain} for the servers that receive its mail`,
      };
    }
    if (!wanted.length)
      return {
        status: 'pass',
        found,
        expected: null,
        message: `MX: ${found.join(', ')}`,
        fix: null,
      };
    const exchanges = new Set(records.map((r) => r.exchange));
    const missing = wanted.filter((h) => !exchanges.has(h));
    if (missing.length === 0) {
      return {
        status: 'pass',
        found,
        expected,
        message: `MX points to Postal (${wanted.join(', ')})`,
        fix: null,
      };
    }
    return {
      status: 'warn',
      found,
      expected,
      message:
        missing.length === wanted.length
          ? `MX points elsewhere (${found.join(', ')}): mail to ${domain} (an FBL or inbound address on it) does not reach Postal`
          : `MX for ${missing.join(', ')} missing: Postal receives only part of ${domain}'s mail`,
      fix: `If ${domain} should receive through Postal (the FBL/inbound address), publish MX records: ${expected}; otherwise put that address on a domain Postal receives for`,
    };
  });
}

/** Every DNS check of a domain, in a fixed order. */
export async function checkDomainDns(
  dns: DnsLookup,
  domain: string,
  dkim: DomainDkim,
  config: DomainsConfig,
): Promise<DnsCheckResult[]> {
  return Promise.all([
    checkSpf(dns, domain, config),
    checkDkim(dns, domain, dkim),
    checkDmarc(dns, domain),
    checkReturnPath(dns, domain, config),
    checkMx(dns, domain, config),
  ]);
}

/** A domain is verified when no check fails (warnings are advice). */
export const isVerified = (checks: DnsCheckResult[]): boolean =>
  checks.every((c) => c.status !== 'fail');
