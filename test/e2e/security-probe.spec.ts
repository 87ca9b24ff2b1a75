import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QueueName } from 'src/infra/queue/queue.constants';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

/**
 * The security probe of issue 11: bans and limits must not be bypassed by the path's case or
 * a trailing slash, forwarded client addresses are trusted only from configured proxies,
 * missing credentials are not failures, and /queues refuses cross-site state changes.
 */

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const sendBody = { to: 'ann@example.com', from: 'me@example.com', subject: 's', text: 'x' };

describe('routing is case-sensitive and strict: bans and limits hold for every spelling (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({
      TRUST_PROXY: 'loopback',
      AUTH_BAN_MAX_FAILURES: '2',
      RATE_LIMIT_IP_PER_MIN: '4',
      RATE_LIMIT_BATCH_PER_MIN: '1',
      RATE_LIMIT_KEY_PER_MIN: '1000',
    });
    key = await t.createKey();
  });
  afterAll(() => t.close());

  const from = (ip: string) => ({
    get: (path: string) =>
      request(t.server).get(path).set('X-Forwarded-For', ip).set('Authorization', `Bearer ${key}`),
    post: (path: string, body: object) =>
      request(t.server)
        .post(path)
        .set('X-Forwarded-For', ip)
        .set('Authorization', `Bearer ${key}`)
        .send(body),
  });

  it('a banned IP is refused on /api whatever the case or a trailing slash', async () => {
    const ip = '198.51.100.10';
    for (let i = 0; i < 2; i++) {
      await request(t.server)
        .get('/api/v1/messages')
        .set('X-Forwarded-For', ip)
        .set('Authorization', 'Bearer esk_wrong')
        .expect(401);
    }
    const c = from(ip);
    await c.get('/api/v1/messages').expect(403);
    for (const path of ['/API/v1/messages', '/Api/v1/messages', '/api/V1/messages']) {
      const res = await c.get(path);
      expect([403, 404]).toContain(res.status);
    }
    const trailing = await c.get('/api/v1/messages/');
    expect([403, 404]).toContain(trailing.status);
    for (const path of ['/Api/v1/send', '/API/V1/SEND', '/api/v1/send/']) {
      const res = await c.post(path, sendBody);
      expect([403, 404]).toContain(res.status);
      expect(res.body.error.code).toMatch(/^(blocked|not_found)$/);
    }
  });

  it('another spelling of a route is a 404 in the error shape, not the route', async () => {
    const c = from('198.51.100.11');
    const res = await c.get('/API/v1/messages').expect(404);
    expect(res.body).toEqual({
      error: { code: 'not_found', message: expect.any(String) },
      request_id: res.headers['x-request-id'],
    });
    await c.get('/api/v1/messages/').expect(404);
  });

  it('the per-IP limit counts every spelling: none gets past it', async () => {
    const c = from('198.51.100.12');
    const statuses: number[] = [];
    for (const path of [
      '/api/v1/messages',
      '/API/v1/messages',
      '/api/v1/messages/',
      '/Api/v1/messages',
      '/api/v1/messages',
      '/api/v1/messages',
      '/API/v1/messages',
      '/api/v1/messages',
    ]) {
      statuses.push((await c.get(path)).status);
    }
    // At most 4 answered by the route; everything else is a 404 or the limit.
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(4);
    expect(statuses.every((s) => [200, 404, 429].includes(s))).toBe(true);
    await c.get('/api/v1/messages').expect(429);
  });

  it('the batch limit holds for /api/v1/batch/ and /API/v1/batch', async () => {
    const c = from('198.51.100.13');
    const body = {
      from: 'me@example.com',
      subject: 's',
      text: 'x',
      recipients: [{ to: 'bob@example.com' }],
    };
    const first = await c.post('/api/v1/batch', body);
    expect(first.status).toBe(202);
    for (const path of ['/api/v1/batch/', '/API/v1/batch', '/api/v1/Batch', '/api/v1/batch']) {
      const res = await c.post(path, body);
      expect([404, 429]).toContain(res.status);
    }
  });
});

describe('TRUST_PROXY: forwarded addresses (e2e)', () => {
  describe('by default no proxy is trusted', () => {
    let t: TestApp;

    beforeAll(async () => {
      // An empty value is "unset": the built-in default applies.
      t = await bootTestApp({
        TRUST_PROXY: '',
        ADMIN_USERNAME: USER,
        ADMIN_PASSWORD: PASSWORD,
        RATE_LIMIT_IP_PER_MIN: '5',
        AUTH_BAN_MAX_FAILURES: '3',
      });
    });
    afterAll(() => t.close());

    it('ignores X-Forwarded-For: rotating it does not get past the per-IP limit', async () => {
      const key = await t.createKey();
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await request(t.server)
          .get(`/api/v1/status/${randomUUID()}`)
          .set('X-Forwarded-For', `203.0.113.${i + 1}`)
          .set('Authorization', `Bearer ${key}`);
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 5)).toEqual([404, 404, 404, 404, 404]);
      expect(statuses.slice(5)).toEqual([429, 429]);
    });

    it('bans the peer for wrong passwords sent under rotating X-Forwarded-For, never a chosen victim', async () => {
      const victim = '192.0.2.77';
      for (let i = 0; i < 3; i++) {
        await request(t.server)
          .get('/dashboard')
          .set('X-Forwarded-For', i === 0 ? victim : `203.0.113.${50 + i}`)
          .set('Authorization', basic(USER, `guess-${i}`))
          .expect(401);
      }
      // The peer itself is banned, whatever it claims to forward for.
      await request(t.server)
        .get('/dashboard')
        .set('X-Forwarded-For', '203.0.113.99')
        .set('Authorization', basic(USER, PASSWORD))
        .expect(403);
      await expect(t.app.get(AuthBanService).banSecondsLeft(victim)).resolves.toBe(0);
    });
  });

  describe('with a trusted proxy, a forwarded value that is not an IP address is ignored', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await bootTestApp({ TRUST_PROXY: 'loopback', AUTH_BAN_MAX_FAILURES: '2' });
    });
    afterAll(() => t.close());

    it('counts failures against the proxy hop, not against the made-up value', async () => {
      const bans = t.app.get(AuthBanService);
      for (const forged of ['not-an-ip', 'not-an-ip']) {
        await request(t.server)
          .get('/api/v1/messages')
          .set('X-Forwarded-For', forged)
          .set('Authorization', 'Bearer esk_wrong')
          .expect(401);
      }
      await expect(bans.banSecondsLeft('not-an-ip')).resolves.toBe(0);
      // The failures landed on the peer (loopback), which is now banned.
      const key = await t.createKey();
      const res = await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(403);
      expect(res.body.error.code).toBe('blocked');
      // A well-formed forwarded address from the trusted proxy is still honoured.
      await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('X-Forwarded-For', '198.51.100.40')
        .set('Authorization', `Bearer ${key}`)
        .expect(404);
    });
  });
});

describe('requests without credentials are not failed authentications (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      TRUST_PROXY: 'loopback',
      ADMIN_USERNAME: USER,
      ADMIN_PASSWORD: PASSWORD,
      AUTH_BAN_MAX_FAILURES: '5',
    });
  });
  afterAll(() => t.close());

  it('ten credential-less /api requests (five <img> tags, twice) ban nobody', async () => {
    const ip = '198.51.100.20';
    for (let i = 0; i < 10; i++) {
      const res = await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('X-Forwarded-For', ip)
        .expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    const key = await t.createKey();
    await request(t.server)
      .get(`/api/v1/status/${randomUUID()}`)
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
  });

  it('Basic credentials a browser sends along to /api are not API-key guesses', async () => {
    const ip = '198.51.100.21';
    for (let i = 0; i < 6; i++) {
      await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('X-Forwarded-For', ip)
        .set('Authorization', basic(USER, PASSWORD))
        .expect(401);
    }
    const key = await t.createKey();
    await request(t.server)
      .get(`/api/v1/status/${randomUUID()}`)
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
  });

  it('credential-less visits to /dashboard and /queues ban nobody; wrong keys still do', async () => {
    const ip = '198.51.100.22';
    for (let i = 0; i < 6; i++) {
      await request(t.server).get('/dashboard').set('X-Forwarded-For', ip).expect(401);
      await request(t.server).get('/queues').set('X-Forwarded-For', ip).expect(401);
      await request(t.server).get('/queues/api/queues').set('X-Forwarded-For', ip).expect(401);
    }
    await request(t.server)
      .get('/queues')
      .set('X-Forwarded-For', ip)
      .set('Authorization', basic(USER, PASSWORD))
      .expect(200);
    for (let i = 0; i < 5; i++) {
      await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('X-Forwarded-For', ip)
        .set('Authorization', 'Bearer esk_wrong')
        .expect(401);
    }
    await request(t.server)
      .get('/dashboard')
      .set('X-Forwarded-For', ip)
      .set('Authorization', basic(USER, PASSWORD))
      .expect(403);
  });
});

describe('/queues refuses cross-site state changes (e2e)', () => {
  let t: TestApp;
  let queue: Queue;

  beforeAll(async () => {
    t = await bootTestApp({ ADMIN_USERNAME: USER, ADMIN_PASSWORD: PASSWORD });
    queue = t.app.get<Queue>(getQueueToken(QueueName.EmailDelivery), { strict: false });
  });
  afterAll(() => t.close());

  const addJob = (name: string) =>
    request(t.server)
      .post(`/queues/api/queues/${QueueName.EmailDelivery}/add`)
      .set('Authorization', basic(USER, PASSWORD))
      .send({ name, data: {}, options: { delay: 3_600_000 } });

  const jobNames = async (): Promise<string[]> =>
    (await queue.getJobs(['delayed', 'waiting', 'active', 'failed', 'completed'])).map(
      (j) => j.name,
    );

  it('a cross-site post with the admin credentials creates no job (Origin)', async () => {
    const res = await addJob('csrf-origin').set('Origin', 'https://evil.example');
    expect(res.status).toBe(403);
    expect(await jobNames()).not.toContain('csrf-origin');
  });

  it('a cross-site post creates no job (Sec-Fetch-Site: cross-site or same-site)', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const res = await addJob(`csrf-${site}`).set('Sec-Fetch-Site', site);
      expect(res.status).toBe(403);
    }
    const opaque = await addJob('csrf-null').set('Origin', 'null');
    expect(opaque.status).toBe(403);
    const names = await jobNames();
    expect(names).not.toContain('csrf-cross-site');
    expect(names).not.toContain('csrf-same-site');
    expect(names).not.toContain('csrf-null');
  });

  it('PUT/DELETE actions are refused cross-site too', async () => {
    const res = await request(t.server)
      .put(`/queues/api/queues/${QueueName.EmailDelivery}/pause`)
      .set('Authorization', basic(USER, PASSWORD))
      .set('Origin', 'https://evil.example');
    expect(res.status).toBe(403);
    expect(await queue.isPaused()).toBe(false);
  });

  it("the board's own same-origin requests and non-browser clients still work", async () => {
    const same = await addJob('same-origin')
      .set('Origin', 'https://mail.example.com')
      .set('Host', 'mail.example.com');
    expect(same.status).toBe(200);
    const fetchMeta = await addJob('same-origin-fetch').set('Sec-Fetch-Site', 'same-origin');
    expect(fetchMeta.status).toBe(200);
    const script = await addJob('no-browser');
    expect(script.status).toBe(200);
    const names = await jobNames();
    expect(names).toEqual(
      expect.arrayContaining(['same-origin', 'same-origin-fetch', 'no-browser']),
    );
    // Reads stay open to a cross-site GET (nothing changes).
    await request(t.server)
      .get('/queues/api/queues')
      .set('Authorization', basic(USER, PASSWORD))
      .set('Sec-Fetch-Site', 'cross-site')
      .expect(200);
  });
});
