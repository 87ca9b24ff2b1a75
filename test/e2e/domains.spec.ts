import request from 'supertest';
import { dkimKey, goodDomain, POSTAL_DNS, POSTAL_ZONE, SELECTOR } from 'test/fakes/dns-zones';
import { FakeDns } from 'test/fakes/fake-dns';
import { bootTestApp, TestApp } from 'test/utils/test-app';

/** Env pointing the app's DNS checks at the loopback server, with Postal's side of them. */
export function dnsEnv(dns: FakeDns): Record<string, string> {
  return {
    DNS_SERVERS: dns.address,
    POSTAL_SPF_INCLUDE: POSTAL_DNS.spfInclude!,
    POSTAL_RETURN_PATH_HOST: POSTAL_DNS.returnPathHost!,
    POSTAL_MX_HOSTS: POSTAL_DNS.mxHosts.join(','),
  };
}

describe('sending domains (e2e)', () => {
  let t: TestApp;
  let dns: FakeDns;
  let key: string;
  let auth: string;
  const { publicKey } = dkimKey();

  const inline = (from: string) => ({
    to: 'ann@example.com',
    from,
    subject: 'Hi',
    html: '<p>Hello</p>',
  });

  beforeAll(async () => {
    dns = await new FakeDns({ ...POSTAL_ZONE, ...goodDomain('shop.test', publicKey) }).start();
    t = await bootTestApp({ ...dnsEnv(dns), REQUIRE_VERIFIED_DOMAINS: 'true' });
    key = await t.createKey('full');
    auth = `Bearer ${key}`;
  });
  afterAll(async () => {
    await t?.close();
    await dns?.stop();
  });

  describe('POST /api/v1/domains', () => {
    it('adds a domain published as Postal asks: 201, verified, every check passing', async () => {
      const res = await request(t.server)
        .post('/api/v1/domains')
        .set('Authorization', auth)
        .send({ domain: 'Shop.Test.', dkim_selector: SELECTOR, dkim_public_key: publicKey })
        .expect(201);
      expect(res.body).toMatchObject({
        domain: 'shop.test',
        status: 'verified',
        verified: true,
        dkim_selector: SELECTOR,
        dkim_public_key: publicKey,
      });
      expect(
        res.body.checks.map((c: { check: string; status: string }) => `${c.check}:${c.status}`),
      ).toEqual(['spf:pass', 'dkim:pass', 'dmarc:pass', 'return_path:pass', 'mx:pass']);
      expect(res.body.verified_at).toEqual(expect.any(String));
    });

    it('answers 200 when the domain exists, with its DKIM key replaced by a whole record', async () => {
      const res = await request(t.server)
        .post('/api/v1/domains')
        .set('Authorization', auth)
        .send({
          domain: 'shop.test',
          dkim_selector: SELECTOR,
          dkim_public_key: `v=DKIM1; t=s; h=sha256; p=${publicKey};`,
        })
        .expect(200);
      expect(res.body).toMatchObject({ status: 'verified', dkim_public_key: publicKey });
    });

    it('adds a domain with no records: pending, each check failing with the exact record to publish', async () => {
      const res = await request(t.server)
        .post('/api/v1/domains')
        .set('Authorization', auth)
        .send({ domain: 'bare.test' })
        .expect(201);
      expect(res.body).toMatchObject({ status: 'pending', verified: false });
      const spf = res.body.checks.find((c: { check: string }) => c.check === 'spf');
      expect(spf).toMatchObject({
        status: 'fail',
        host: 'bare.test',
        type: 'TXT',
        found: [],
        expected: 'v=spf1 a mx include:spf.postal.test ~all',
      });
      const rp = res.body.checks.find((c: { check: string }) => c.check === 'return_path');
      expect(rp).toMatchObject({
        host: 'psrp.bare.test',
        type: 'CNAME',
        expected: 'rp.postal.test',
      });
    });

    it.each([
      [{ domain: 'not a domain' }, 'domain', 'domain must be a domain name such as shop.example'],
      [{ domain: 'localhost' }, 'domain', 'domain must be a domain name such as shop.example'],
      [{}, 'domain', 'domain is required'],
      [
        { domain: 'x.test', dkim_public_key: publicKey },
        'dkim_selector',
        'dkim_selector is required',
      ],
      [
        { domain: 'x.test', dkim_selector: SELECTOR },
        'dkim_public_key',
        'dkim_public_key is required',
      ],
      [
        { domain: 'x.test', dkim_selector: SELECTOR, dkim_public_key: 'not-a-key' },
        'dkim_public_key',
        'dkim_public_key must be a public key (the p= value of the DKIM record)',
      ],
      [
        { domain: 'x.test', dkim_selector: 'bad selector', dkim_public_key: publicKey },
        'dkim_selector',
        'dkim_selector must be a DNS name such as postal-AbCdEf',
      ],
      [{ domain: 'x.test', extra: 1 }, 'extra', 'property extra should not exist'],
      [{ domain: 42 }, 'domain', 'domain must be a domain name such as shop.example'],
    ])('refuses %j with a 400 naming the field', async (body, field, message) => {
      const res = await request(t.server)
        .post('/api/v1/domains')
        .set('Authorization', auth)
        .send(body)
        .expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details).toEqual([{ field, message }]);
    });

    it('needs scope full', async () => {
      const sendKey = await t.createKey('send');
      const res = await request(t.server)
        .post('/api/v1/domains')
        .set('Authorization', `Bearer ${sendKey}`)
        .send({ domain: 'y.test' })
        .expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });
  });

  describe('GET /api/v1/domains', () => {
    it('lists newest first with a cursor', async () => {
      const first = await request(t.server)
        .get('/api/v1/domains?limit=1')
        .set('Authorization', auth)
        .expect(200);
      expect(first.body.data.map((d: { domain: string }) => d.domain)).toEqual(['bare.test']);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const second = await request(t.server)
        .get(`/api/v1/domains?limit=1&cursor=${first.body.next_cursor}`)
        .set('Authorization', auth)
        .expect(200);
      expect(second.body.data.map((d: { domain: string }) => d.domain)).toEqual(['shop.test']);
      expect(second.body.next_cursor).toBeNull();
    });

    it.each(['limit=0', 'limit=abc', 'cursor=garbage', 'cursor=99999999999'])(
      'refuses %s with a 400',
      async (query) => {
        const res = await request(t.server)
          .get(`/api/v1/domains?${query}`)
          .set('Authorization', auth)
          .expect(400);
        expect(res.body.error.code).toBe('validation_error');
      },
    );

    it('gets one domain; an unknown or malformed one is a 404', async () => {
      await request(t.server)
        .get('/api/v1/domains/SHOP.test')
        .set('Authorization', auth)
        .expect(200);
      for (const name of ['nope.test', 'not%20a%20domain', '%E2%80%8B'])
        expect(
          (
            await request(t.server)
              .get(`/api/v1/domains/${name}`)
              .set('Authorization', auth)
              .expect(404)
          ).body.error.code,
        ).toBe('not_found');
    });
  });

  describe('REQUIRE_VERIFIED_DOMAINS', () => {
    it('sends From a verified domain', async () => {
      await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', auth)
        .send(inline('Shop <news@shop.test>'))
        .expect(202);
    });

    it('refuses From a domain that is not verified, or not a sending domain, with 422 domain_not_verified', async () => {
      const pending = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', auth)
        .send(inline('news@bare.test'))
        .expect(422);
      expect(pending.body.error).toMatchObject({
        code: 'domain_not_verified',
        domain: 'bare.test',
        details: [{ field: 'from', message: 'bare.test is not a verified sending domain' }],
      });
      expect(pending.body.error.message).toContain('is not verified');
      const unknown = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', auth)
        .send(inline('news@other.test'))
        .expect(422);
      expect(unknown.body.error.message).toContain('is not a sending domain');
    });

    it('refuses a whole batch From an unverified domain', async () => {
      const res = await request(t.server)
        .post('/api/v1/batch')
        .set('Authorization', auth)
        .send({
          from: 'news@bare.test',
          subject: 'Hi',
          html: '<p>x</p>',
          recipients: [{ to: 'a@example.com' }],
        })
        .expect(422);
      expect(res.body.error.code).toBe('domain_not_verified');
      const [{ count }] = await t.dataSource.query(
        `SELECT count(*)::int AS count FROM email_logs WHERE sender LIKE '%bare.test'`,
      );
      expect(count).toBe(0);
    });
  });

  describe('POST /api/v1/domains/:domain/verify', () => {
    it('re-checks now: a DKIM record pasted wrong turns a verified domain failing, and sends stop', async () => {
      dns.set({
        [`${SELECTOR}._domainkey.shop.test`]: { TXT: [`v=DKIM1; p=${dkimKey().publicKey}`] },
      });
      const res = await request(t.server)
        .post('/api/v1/domains/shop.test/verify')
        .set('Authorization', auth)
        .expect(200);
      expect(res.body).toMatchObject({ status: 'failing', verified: false, verified_at: null });
      const dkim = res.body.checks.find((c: { check: string }) => c.check === 'dkim');
      expect(dkim).toMatchObject({
        status: 'fail',
        expected: `v=DKIM1; t=s; h=sha256; p=${publicKey};`,
      });
      const send = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', auth)
        .send(inline('news@shop.test'))
        .expect(422);
      expect(send.body.error.code).toBe('domain_not_verified');

      dns.set(goodDomain('shop.test', publicKey));
      await request(t.server)
        .post('/api/v1/domains/shop.test/verify')
        .set('Authorization', auth)
        .expect(200);
      await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', auth)
        .send(inline('news@shop.test'))
        .expect(202);
    });

    it('is a 404 for an unknown domain', async () => {
      await request(t.server)
        .post('/api/v1/domains/nope.test/verify')
        .set('Authorization', auth)
        .expect(404);
    });
  });

  describe('dashboard', () => {
    const admin = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

    it('shows each domain with its DNS records and bulk-sender compliance', async () => {
      const page = await request(t.server)
        .get('/dashboard/domains')
        .set('Authorization', admin)
        .expect(200);
      expect(page.text).toContain('data-domain="shop.test"');
      expect(page.text).toContain('data-domain="bare.test"');
      expect(page.text).toMatch(/data-check="complaint_rate" data-status="pass"/);
      // The record to publish for the bare domain (Handlebars escapes `=` as &#x3D;).
      expect(page.text).toContain('v&#x3D;spf1 a mx include:spf.postal.test ~all');
    });

    it("shows the doctor's checks on the Set-up page", async () => {
      const page = await request(t.server)
        .get('/dashboard/setup')
        .set('Authorization', admin)
        .expect(200);
      expect(page.text).toContain('id="setup-checks"');
      expect(page.text).toMatch(/data-check="postgres" data-status="pass"/);
      expect(page.text).toMatch(/data-check="dns:bare.test:spf" data-status="fail"/);
    });
  });

  describe('DELETE /api/v1/domains/:domain', () => {
    it('removes it; then it is a 404', async () => {
      await request(t.server)
        .delete('/api/v1/domains/bare.test')
        .set('Authorization', auth)
        .expect(200, { domain: 'bare.test', removed: true });
      await request(t.server)
        .delete('/api/v1/domains/bare.test')
        .set('Authorization', auth)
        .expect(404);
      await request(t.server)
        .get('/api/v1/domains/bare.test')
        .set('Authorization', auth)
        .expect(404);
    });
  });
});
