import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('production rules (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      NODE_ENV: 'production',
      PUBLIC_URL: 'https://mail.example.com',
      ADMIN_USERNAME: 'ops',
      ADMIN_PASSWORD: 'a-strong-operator-password',
      TRACKING_SECRET: 'production-tracking-secret-0123456789',
    });
  });
  afterAll(() => t.close());

  it('redirects plain HTTP to HTTPS, keeping the path and query', async () => {
    const res = await request(t.server)
      .get('/api/v1/status/abc?x=1')
      .set('Host', 'mail.example.com')
      .expect(308);
    expect(res.headers.location).toBe('https://mail.example.com/api/v1/status/abc?x=1');
  });

  it("redirects to PUBLIC_URL's host, never to the Host header's", async () => {
    for (const host of ['evil.example', 'mail.example.com.evil.example', 'evil.example:8443']) {
      const res = await request(t.server).get('/api/v1/status/abc').set('Host', host).expect(308);
      expect(res.headers.location).toBe('https://mail.example.com/api/v1/status/abc');
    }
    const slashes = await request(t.server).get('//evil.example/x').expect(308);
    expect(new URL(slashes.headers.location).host).toBe('mail.example.com');
  });

  const basic = (u: string, p: string): string =>
    `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  const overHttps = (path: string) => request(t.server).get(path).set('X-Forwarded-Proto', 'https');

  it('keeps /metrics behind the operator login (no METRICS_TOKEN set)', async () => {
    const none = await overHttps('/metrics').expect(401);
    expect(none.body.error.code).toBe('unauthorized');
    expect(none.text).not.toContain('http_request_duration_seconds');
    await overHttps('/metrics').set('Authorization', basic('ops', 'wrong-password-x')).expect(401);
    await overHttps('/metrics').set('Authorization', 'Bearer anything-at-all-here-123').expect(401);
    const ok = await overHttps('/metrics')
      .set('Authorization', basic('ops', 'a-strong-operator-password'))
      .expect(200);
    expect(ok.text).toContain('http_request_duration_seconds');
  });

  it('keeps /docs and /docs-json behind the operator login', async () => {
    for (const path of ['/docs', '/docs/', '/docs-json', '/docs/swagger-ui-bundle.js']) {
      const res = await overHttps(path);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    }
    const auth = basic('ops', 'a-strong-operator-password');
    const json = await overHttps('/docs-json').set('Authorization', auth).expect(200);
    expect(json.body.openapi).toMatch(/^3\./);
    const ui = await overHttps('/docs').set('Authorization', auth).redirects(1);
    expect(ui.status).toBe(200);
  });

  it('serves requests that came over HTTPS through the proxy, with HSTS', async () => {
    const res = await request(t.server)
      .get('/api/v1/status/abc')
      .set('Host', 'mail.example.com')
      .set('X-Forwarded-Proto', 'https')
      .expect(401);
    expect(res.headers['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains; preload',
    );
  });

  it('exempts health probes from the redirect', async () => {
    await request(t.server).get('/health').expect(200);
    await request(t.server).get('/health/live').expect(200);
    await request(t.server).get('/api/v1/health').expect(200);
  });

  it('puts HSTS on every response, health included', async () => {
    const res = await request(t.server).get('/health/live').expect(200);
    expect(res.headers['strict-transport-security']).toContain('max-age=31536000');
  });
});

describe('METRICS_TOKEN (e2e)', () => {
  let t: TestApp;
  const token = 'metrics-token-0123456789abcdef';

  beforeAll(async () => {
    t = await bootTestApp({ METRICS_TOKEN: token, AUTH_BAN_MAX_FAILURES: '3' });
  });
  afterAll(() => t.close());

  it('answers /metrics only to the bearer token once it is set, and counts wrong ones', async () => {
    await request(t.server).get('/metrics').expect(401);
    const ok = await request(t.server)
      .get('/metrics')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(ok.text).toContain('process_resident_memory_bytes');
    const ip = '198.51.100.60';
    for (let i = 0; i < 3; i++) {
      await request(t.server)
        .get('/metrics')
        .set('X-Forwarded-For', ip)
        .set('Authorization', `Bearer wrong-token-${i}-0123456789abcdef`)
        .expect(401);
    }
    await request(t.server)
      .get('/metrics')
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${token}`)
      .expect(403);
  });
});
