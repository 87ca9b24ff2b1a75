import { generateKeyPairSync } from 'node:crypto';
import type { DomainsConfig } from 'src/config/app-config';
import type { Zone } from 'test/fakes/fake-dns';

/** A DKIM key pair as Postal makes one per domain (app/models/domain.rb `generate_dkim_key`). */
export function dkimKey(): { publicKey: string } {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}

/** Postal's side of the checks, as its postal.yml `dns.*` would say for this test install. */
export const POSTAL_DNS: Omit<DomainsConfig, 'dnsServers'> = {
  spfInclude: 'spf.postal.test',
  returnPathHost: 'rp.postal.test',
  returnPathPrefix: 'psrp',
  mxHosts: ['mx1.postal.test', 'mx2.postal.test'],
  dnsTimeoutMs: 2000,
  requireVerified: false,
};

export const SELECTOR = 'postal-AbCdEf';

/** Splits a long TXT value into 255-byte character-strings, as DNS carries it. */
export const chunked = (value: string): string[] => value.match(/.{1,255}/g) ?? [];

/**
 * A domain published exactly as Postal asks (app/models/domain.rb `spf_record`, `dkim_record`,
 * `return_path_domain`; config `dns.mx_records`), plus a DMARC record: every check passes.
 */
export function goodDomain(domain: string, publicKey: string): Zone {
  return {
    [domain]: {
      TXT: ['google-site-verification=abc', 'v=spf1 a mx include:spf.postal.test ~all'],
      MX: [
        { exchange: 'mx1.postal.test', priority: 10 },
        { exchange: 'mx2.postal.test', priority: 20 },
      ],
      A: ['192.0.2.10'],
    },
    [`${SELECTOR}._domainkey.${domain}`]: {
      TXT: [chunked(`v=DKIM1; t=s; h=sha256; p=${publicKey};`)],
    },
    [`_dmarc.${domain}`]: {
      TXT: [`v=DMARC1; p=quarantine; rua=mailto:dmarc@${domain}; adkim=r; aspf=r`],
    },
    [`psrp.${domain}`]: { CNAME: 'rp.postal.test' },
  };
}

/** Postal's own SPF include host. */
export const POSTAL_ZONE: Zone = {
  'spf.postal.test': { TXT: ['v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all'] },
};
