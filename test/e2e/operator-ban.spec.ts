import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { bootTestApp, TestApp } from 'test/utils/test-app';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/**
 * Guessing the operator password on /dashboard or /queues counts towards the same per-IP ban
 * as guessing API keys (fail2ban style, state in Redis).
 */
describe('operator pages: failed Basic-auth logins ban the IP (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      ADMIN_USERNAME: USER,
      ADMIN_PASSWORD: PASSWORD,
      TRUST_PROXY: 'true',
      AUTH_BAN_MAX_FAILURES: '3',
      AUTH_BAN_FIND_TIME_S: '60',
      AUTH_BAN_TIME_S: '600',
    });
  });
  afterAll(() => t.close());

  const dashboard = (ip: string, auth?: string) => {
    const r = request(t.server).get('/dashboard').set('X-Forwarded-For', ip);
    return auth ? r.set('Authorization', auth) : r;
  };

  it('does not count visits without credentials (the browser asking for them)', async () => {
    for (let i = 0; i < 6; i++) await dashboard('198.51.100.1').expect(401);
    await dashboard('198.51.100.1', basic(USER, PASSWORD)).expect(200);
  });

  it('bans after 3 wrong passwords: the right one, /queues and the API are refused too', async () => {
    const ip = '198.51.100.2';
    await dashboard(ip, basic(USER, 'guess-1')).expect(401);
    await request(t.server)
      .get('/queues')
      .set('X-Forwarded-For', ip)
      .set('Authorization', basic('admin', 'guess-2'))
      .expect(401);
    // Below the threshold the right password still works.
    await dashboard(ip, basic(USER, PASSWORD)).expect(200);
    await dashboard(ip, basic(USER, 'guess-3')).expect(401);

    const refused = await dashboard(ip, basic(USER, PASSWORD)).expect(403);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(500);
    await request(t.server)
      .get('/queues')
      .set('X-Forwarded-For', ip)
      .set('Authorization', basic(USER, PASSWORD))
      .expect(403);
    const key = await t.createKey();
    const api = await request(t.server)
      .get(`/api/v1/status/${randomUUID()}`)
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${key}`)
      .expect(403);
    expect(api.body.error.code).toBe('blocked');

    // Another address is unaffected.
    await dashboard('198.51.100.3', basic(USER, PASSWORD)).expect(200);
  });
});
