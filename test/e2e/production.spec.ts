import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('production rules (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      NODE_ENV: 'production',
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
