import type { AppConfig, DomainsConfig } from 'src/config/app-config';
import { DnsClient } from 'src/infra/dns/dns.client';
import {
  checkDkim,
  checkDmarc,
  checkDomainDns,
  checkMx,
  checkReturnPath,
  checkSpf,
  isVerified,
  organizationalDomain,
} from 'src/modules/domains/dns-checks';
import { FakeDns } from 'test/fakes/fake-dns';
import { dkimKey, goodDomain, POSTAL_DNS, POSTAL_ZONE, SELECTOR } from 'test/fakes/dns-zones';

/**
 * The DNS checks against a real DNS server on loopback (test/fakes/fake-dns.ts, dns2), reached
 * through node:dns's Resolver exactly as the app does (DNS_SERVERS): each check's pass and fail.
 */
describe('sending-domain DNS checks', () => {
  let dnsServer: FakeDns;
  let dns: DnsClient;
  let config: DomainsConfig;
  const key = dkimKey().publicKey;
  const otherKey = dkimKey().publicKey;
  const dkim = { selector: SELECTOR, publicKey: key };

  beforeAll(async () => {
    dnsServer = await new FakeDns().start();
    config = { ...POSTAL_DNS, dnsServers: [dnsServer.address] };
    dns = new DnsClient({ domains: config } as AppConfig);
    dnsServer.set({ ...POSTAL_ZONE, ...goodDomain('good.test', key) });
  });
  afterAll(() => dnsServer.stop());

  describe('a domain published as Postal asks', () => {
    it('passes every check, through the loopback server', async () => {
      const checks = await checkDomainDns(dns, 'good.test', dkim, config);
      expect(checks.map((c) => [c.check, c.status])).toEqual([
        ['spf', 'pass'],
        ['dkim', 'pass'],
        ['dmarc', 'pass'],
        ['return_path', 'pass'],
        ['mx', 'pass'],
      ]);
      expect(isVerified(checks)).toBe(true);
      expect(dnsServer.queries).toEqual(
        expect.arrayContaining([
          'TXT good.test',
          `TXT ${SELECTOR.toLowerCase()}._domainkey.good.test`,
        ]),
      );
      // The DKIM record arrives in 255-byte chunks and is compared joined.
      expect(checks[1].found).toEqual([`v=DKIM1; t=s; h=sha256; p=${key};`]);
      expect(checks[0].message).toBe('SPF includes spf.postal.test; 3 of 10 DNS lookups');
    });
  });

  describe('SPF', () => {
    it("fails without a record and gives Postal's record to publish", async () => {
      dnsServer.set({ 'nospf.test': { TXT: ['some-verification=1'] } });
      const c = await checkSpf(dns, 'nospf.test', config);
      expect(c).toMatchObject({
        status: 'fail',
        found: [],
        expected: 'v=spf1 a mx include:spf.postal.test ~all',
        fix: 'Publish a TXT record at nospf.test: v=spf1 a mx include:spf.postal.test ~all',
      });
    });

    it('fails with two v=spf1 records (permerror)', async () => {
      dnsServer.set({ 'two.test': { TXT: ['v=spf1 mx ~all', 'v=spf1 a ~all'] } });
      const c = await checkSpf(dns, 'two.test', config);
      expect(c.status).toBe('fail');
      expect(c.message).toMatch(/^2 SPF records/);
      expect(c.expected).toBe('v=spf1 mx include:spf.postal.test ~all');
    });

    it("fails when Postal's include is missing and proposes the record with it added", async () => {
      dnsServer.set({ 'noinclude.test': { TXT: ['v=spf1 mx include:_spf.google.com -all'] } });
      dnsServer.set({ '_spf.google.com': { TXT: ['v=spf1 ip4:198.51.100.0/24 ~all'] } });
      const c = await checkSpf(dns, 'noinclude.test', config);
      expect(c.status).toBe('fail');
      expect(c.message).toContain('it does not include spf.postal.test');
      expect(c.expected).toBe('v=spf1 mx include:_spf.google.com include:spf.postal.test -all');
    });

    it('fails on +all (and on a bare all)', async () => {
      dnsServer.set({
        'plusall.test': { TXT: ['v=spf1 include:spf.postal.test +all'] },
        'bareall.test': { TXT: ['v=spf1 include:spf.postal.test all'] },
      });
      for (const domain of ['plusall.test', 'bareall.test']) {
        const c = await checkSpf(dns, domain, config);
        expect(c.status).toBe('fail');
        expect(c.message).toContain('lets any server on the internet send');
        expect(c.expected).toBe('v=spf1 include:spf.postal.test ~all');
      }
    });

    it('fails over 10 DNS lookups counted through nested includes', async () => {
      // 1 include at the top → a record with 5 includes → each with `a mx` (2 each) = 1+5+10.
      const nested = ['n1', 'n2', 'n3', 'n4', 'n5'];
      dnsServer.set({
        'many.test': { TXT: ['v=spf1 include:spf.postal.test include:hub.many.test ~all'] },
        'hub.many.test': {
          TXT: [`v=spf1 ${nested.map((n) => `include:${n}.many.test`).join(' ')} ~all`],
        },
        ...Object.fromEntries(nested.map((n) => [`${n}.many.test`, { TXT: ['v=spf1 a mx ~all'] }])),
      });
      const c = await checkSpf(dns, 'many.test', config);
      expect(c.status).toBe('fail');
      expect(c.message).toContain('more than 10 DNS lookups');
    });

    it('passes at exactly 10 lookups', async () => {
      dnsServer.set({
        'ten.test': {
          TXT: [
            'v=spf1 a mx ptr exists:x.ten.test include:spf.postal.test include:hub.ten.test ~all',
          ],
        },
        'hub.ten.test': { TXT: ['v=spf1 a mx a:b.ten.test mx:c.ten.test ~all'] },
      });
      const c = await checkSpf(dns, 'ten.test', config);
      expect(c).toMatchObject({
        status: 'pass',
        message: 'SPF includes spf.postal.test; 10 of 10 DNS lookups',
      });
    });

    it('fails when an include has no SPF record', async () => {
      dnsServer.set({
        'broken-include.test': { TXT: ['v=spf1 include:spf.postal.test include:gone.test ~all'] },
      });
      const c = await checkSpf(dns, 'broken-include.test', config);
      expect(c.status).toBe('fail');
      expect(c.message).toContain('include:gone.test has 0 SPF records');
    });

    it('warns on ?all', async () => {
      dnsServer.set({ 'neutral.test': { TXT: ['v=spf1 include:spf.postal.test ?all'] } });
      await expect(checkSpf(dns, 'neutral.test', config)).resolves.toMatchObject({
        status: 'warn',
      });
    });
  });

  describe('DKIM', () => {
    it('fails without a record at <selector>._domainkey', async () => {
      const c = await checkDkim(dns, 'nospf.test', dkim);
      expect(c).toMatchObject({
        status: 'fail',
        host: `${SELECTOR}._domainkey.nospf.test`,
        expected: `v=DKIM1; t=s; h=sha256; p=${key};`,
      });
    });

    it('fails when the record holds another key (pasted wrong)', async () => {
      dnsServer.set({
        [`${SELECTOR}._domainkey.wrongkey.test`]: {
          TXT: [`v=DKIM1; t=s; h=sha256; p=${otherKey};`],
        },
      });
      const c = await checkDkim(dns, 'wrongkey.test', dkim);
      expect(c.status).toBe('fail');
      expect(c.message).toContain('holds another key');
    });

    it('fails with two records at the name, as Postal does', async () => {
      dnsServer.set({
        [`${SELECTOR}._domainkey.twokeys.test`]: {
          TXT: [`v=DKIM1; p=${key}`, `v=DKIM1; p=${otherKey}`],
        },
      });
      await expect(checkDkim(dns, 'twokeys.test', dkim)).resolves.toMatchObject({
        status: 'fail',
        message: `2 TXT records at ${SELECTOR}._domainkey.twokeys.test; there must be exactly one`,
      });
    });

    it('fails when no selector and key are known for the domain', async () => {
      const c = await checkDkim(dns, 'good.test', { selector: null, publicKey: null });
      expect(c).toMatchObject({ status: 'fail', expected: null });
    });
  });

  describe('DMARC', () => {
    it('fails without a record here or at the organizational domain', async () => {
      const c = await checkDmarc(dns, 'nospf.test');
      expect(c.status).toBe('fail');
      expect(c.expected).toBe(
        'v=DMARC1; p=none; rua=mailto:dmarc-reports@nospf.test; adkim=r; aspf=r',
      );
    });

    it("inherits the organizational domain's record (sp, else p) for a subdomain", async () => {
      const c = await checkDmarc(dns, 'mail.good.test');
      expect(c).toMatchObject({ status: 'pass', host: '_dmarc.mail.good.test' });
      expect(c.message).toContain('(inherited from good.test)');
      expect(dnsServer.queries).toEqual(
        expect.arrayContaining(['TXT _dmarc.mail.good.test', 'TXT _dmarc.good.test']),
      );
    });

    it('warns on p=none, no rua, or aspf=s', async () => {
      dnsServer.set({ '_dmarc.monitor.test': { TXT: ['v=DMARC1; p=none; aspf=s'] } });
      const c = await checkDmarc(dns, 'monitor.test');
      expect(c.status).toBe('warn');
      expect(c.message).toContain('p=none only monitors');
      expect(c.message).toContain('no rua=');
      expect(c.message).toContain('aspf=s');
    });

    it('fails on an invalid policy and on two records', async () => {
      dnsServer.set({
        '_dmarc.badpolicy.test': { TXT: ['v=DMARC1; p=block'] },
        '_dmarc.twodmarc.test': { TXT: ['v=DMARC1; p=reject', 'v=DMARC1; p=none'] },
      });
      await expect(checkDmarc(dns, 'badpolicy.test')).resolves.toMatchObject({ status: 'fail' });
      await expect(checkDmarc(dns, 'twodmarc.test')).resolves.toMatchObject({ status: 'fail' });
    });

    it('takes organizational domains under two-label public suffixes', () => {
      expect(organizationalDomain('news.shop.co.uk')).toBe('shop.co.uk');
      expect(organizationalDomain('a.b.example.com')).toBe('example.com');
    });
  });

  describe('return path', () => {
    it("fails when psrp.<domain> points elsewhere than Postal's return path host", async () => {
      dnsServer.set({ 'psrp.wrongrp.test': { CNAME: 'rp.other.test' } });
      const c = await checkReturnPath(dns, 'wrongrp.test', config);
      expect(c).toMatchObject({
        status: 'fail',
        host: 'psrp.wrongrp.test',
        expected: 'rp.postal.test',
        found: ['rp.other.test'],
      });
    });

    it('warns when missing (DKIM still aligns)', async () => {
      await expect(checkReturnPath(dns, 'nospf.test', config)).resolves.toMatchObject({
        status: 'warn',
        fix: 'Publish a CNAME at psrp.nospf.test pointing to rp.postal.test',
      });
    });
  });

  describe('MX', () => {
    it('fails without any MX record', async () => {
      const c = await checkMx(dns, 'nospf.test', config);
      expect(c).toMatchObject({
        status: 'fail',
        expected: '10 mx1.postal.test, 10 mx2.postal.test',
      });
    });

    it('warns when MX points elsewhere (the FBL address must be on a domain Postal receives for)', async () => {
      dnsServer.set({
        'elsewhere.test': { MX: [{ exchange: 'aspmx.l.google.com', priority: 1 }] },
      });
      await expect(checkMx(dns, 'elsewhere.test', config)).resolves.toMatchObject({
        status: 'warn',
      });
    });
  });

  describe('a resolver that fails', () => {
    it('is a fail marked lookup_failed, never "record missing"', async () => {
      dnsServer.set({ 'servfail.test': { servfail: true } });
      const c = await checkSpf(dns, 'servfail.test', config);
      expect(c).toMatchObject({ status: 'fail', lookup_failed: true });
      expect(c.message).toMatch(/DNS TXT lookup of servfail\.test failed \(ESERVFAIL\)/);
    });
  });
});
