import request from 'supertest';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('rate control routes (e2e)', () => {
  let t: TestApp;
  let rates: RateControlService;
  let full: string;
  let send: string;

  beforeAll(async () => {
    t = await bootTestApp({
      DOMAIN_RATE_DEFAULT: '20',
      DOMAIN_RATE_OVERRIDES: 'gmail.com=50',
      RATE_LIMIT_IP_PER_MIN: '10000',
      RATE_LIMIT_KEY_PER_MIN: '10000',
      AUTH_BAN_MAX_FAILURES: '1000',
    });
    rates = t.app.get(RateControlService);
    full = await t.createKey('full');
    send = await t.createKey('send');
  });
  afterAll(() => t.close());

  const get = (url: string, key = full): request.Test =>
    request(t.server).get(url).set('Authorization', `Bearer ${key}`);
  const post = (url: string, body?: object, key = full): request.Test => {
    const req = request(t.server).post(url).set('Authorization', `Bearer ${key}`);
    return body === undefined ? req : req.send(body);
  };

  const expectValidationError = (res: request.Response, field: string): void => {
    expect(res.body).toEqual({
      error: {
        code: 'validation_error',
        message: expect.any(String),
        details: [expect.objectContaining({ field, message: expect.any(String) })],
      },
      request_id: res.headers['x-request-id'],
    });
  };

  describe('GET /api/v1/rate-control', () => {
    it('lists nothing while no domain is reduced or paused', async () => {
      const res = await get('/api/v1/rate-control').expect(200);
      expect(res.body).toEqual({ domains: [], paused_all: false, paused_streams: [] });
    });

    it('lists a reduced domain with its factor, effective rate and expiry', async () => {
      await rates.reduceRate('gmail.com');
      try {
        const res = await get('/api/v1/rate-control').expect(200);
        expect(res.body).toEqual({
          domains: [
            {
              domain: 'gmail.com',
              factor: 0.5,
              rate_per_sec: 25,
              expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
              paused: false,
            },
          ],
          paused_all: false,
          paused_streams: [],
        });
        const expiresIn = Date.parse(res.body.domains[0].expires_at) - Date.now();
        expect(expiresIn).toBeGreaterThan(3_500_000);
        expect(expiresIn).toBeLessThanOrEqual(3_600_000);
      } finally {
        await rates.resetRate('gmail.com');
      }
    });
  });

  describe('POST /api/v1/rate-control/:domain/reset', () => {
    it('restores factor 1 and answers the domain state', async () => {
      await rates.reduceRate('yahoo.com');
      await rates.reduceRate('yahoo.com');
      const res = await post('/api/v1/rate-control/Yahoo.COM/reset').expect(200);
      expect(res.body).toEqual({
        domain: 'yahoo.com',
        factor: 1,
        rate_per_sec: 20,
        expires_at: null,
        paused: false,
      });
      await expect(rates.getRate('yahoo.com')).resolves.toEqual(res.body);
      const list = await get('/api/v1/rate-control').expect(200);
      expect(list.body.domains).toEqual([]);
    });

    it('answers the state of a domain that was never reduced', async () => {
      const res = await post('/api/v1/rate-control/gmail.com/reset').expect(200);
      expect(res.body).toEqual({
        domain: 'gmail.com',
        factor: 1,
        rate_per_sec: 50,
        expires_at: null,
        paused: false,
      });
    });

    it('treats a domain called "pause" as a domain, not as the pause route', async () => {
      const res = await post('/api/v1/rate-control/pause/reset').expect(200);
      expect(res.body.domain).toBe('pause');
      await expect(rates.isPaused()).resolves.toBe(false);
    });

    it.each([
      ['an underscore', 'bad_domain.com'],
      ['a space', 'bad%20domain.com'],
      ['an empty label', 'a..com'],
      ['a leading hyphen', '-a.com'],
      ['an @', 'ann%40example.com'],
      ['more than 253 characters', `${'a'.repeat(60)}.`.repeat(5) + 'com'],
      ['SQL-looking junk', "x'%20OR%20'1'%3D'1"],
    ])('answers 400 validation_error for a domain with %s', async (_label, domain) => {
      const res = await post(`/api/v1/rate-control/${domain}/reset`).expect(400);
      expectValidationError(res, 'domain');
    });
  });

  describe('POST /api/v1/rate-control/pause and /resume', () => {
    it('pauses and resumes one domain', async () => {
      const paused = await post('/api/v1/rate-control/pause', { domain: 'Hotmail.com' }).expect(
        200,
      );
      expect(paused.body).toEqual({ domain: 'hotmail.com', stream: null, paused: true });
      await expect(rates.acquire('hotmail.com')).resolves.toEqual(
        expect.objectContaining({ granted: false, reason: 'paused' }),
      );
      const list = await get('/api/v1/rate-control').expect(200);
      expect(list.body).toEqual({
        domains: [
          { domain: 'hotmail.com', factor: 1, rate_per_sec: 20, expires_at: null, paused: true },
        ],
        paused_all: false,
        paused_streams: [],
      });

      const resumed = await post('/api/v1/rate-control/resume', { domain: 'hotmail.com' }).expect(
        200,
      );
      expect(resumed.body).toEqual({ domain: 'hotmail.com', stream: null, paused: false });
      await expect(rates.acquire('hotmail.com')).resolves.toEqual({ granted: true });
      await expect(get('/api/v1/rate-control').expect(200)).resolves.toHaveProperty('body', {
        domains: [],
        paused_all: false,
        paused_streams: [],
      });
    });

    it('pauses and resumes all sending without a body', async () => {
      const paused = await post('/api/v1/rate-control/pause').expect(200);
      expect(paused.body).toEqual({ domain: null, stream: null, paused: true });
      try {
        const list = await get('/api/v1/rate-control').expect(200);
        expect(list.body.paused_all).toBe(true);
        await expect(rates.acquire('example.org')).resolves.toEqual(
          expect.objectContaining({ granted: false, reason: 'paused' }),
        );
      } finally {
        const resumed = await post('/api/v1/rate-control/resume').expect(200);
        expect(resumed.body).toEqual({ domain: null, stream: null, paused: false });
      }
      const list = await get('/api/v1/rate-control').expect(200);
      expect(list.body.paused_all).toBe(false);
    });

    it('pauses all sending with an empty JSON body too', async () => {
      await post('/api/v1/rate-control/pause', {}).expect(200, {
        domain: null,
        stream: null,
        paused: true,
      });
      await post('/api/v1/rate-control/resume', {}).expect(200, {
        domain: null,
        stream: null,
        paused: false,
      });
      await expect(rates.isPaused()).resolves.toBe(false);
    });

    it.each([
      ['an empty domain', { domain: '' }, 'domain'],
      ['a non-hostname', { domain: 'not a domain' }, 'domain'],
      ['an email address', { domain: 'ann@example.com' }, 'domain'],
      ['a number', { domain: 42 }, 'domain'],
      ['an array', { domain: ['gmail.com'] }, 'domain'],
      ['an unknown field', { domian: 'gmail.com' }, 'domian'],
    ])('answers 400 validation_error for %s', async (_label, body, field) => {
      for (const action of ['pause', 'resume']) {
        const res = await post(`/api/v1/rate-control/${action}`, body).expect(400);
        expectValidationError(res, field);
      }
      await expect(rates.isPaused()).resolves.toBe(false);
    });

    it('answers 400 for a body that is not JSON', async () => {
      const res = await request(t.server)
        .post('/api/v1/rate-control/pause')
        .set('Authorization', `Bearer ${full}`)
        .set('Content-Type', 'application/json')
        .send('{"domain":')
        .expect(400);
      expect(res.body.error.code).toBe('validation_error');
      await expect(rates.isPaused()).resolves.toBe(false);
    });
  });

  it('documents the routes in the OpenAPI document', async () => {
    const res = await request(t.server).get('/docs-json').expect(200);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/rate-control',
        '/api/v1/rate-control/pause',
        '/api/v1/rate-control/resume',
        '/api/v1/rate-control/{domain}/reset',
      ]),
    );
  });

  describe('access', () => {
    const routes: Array<[string, (key?: string) => request.Test]> = [
      ['GET /rate-control', (key) => get('/api/v1/rate-control', key)],
      ['POST /rate-control/pause', (key) => post('/api/v1/rate-control/pause', {}, key)],
      ['POST /rate-control/resume', (key) => post('/api/v1/rate-control/resume', {}, key)],
      [
        'POST /rate-control/:domain/reset',
        (key) => post('/api/v1/rate-control/a.com/reset', {}, key),
      ],
    ];

    it.each(routes)('answers 403 forbidden to a send-scoped key: %s', async (_label, call) => {
      const res = await call(send).expect(403);
      expect(res.body.error.code).toBe('forbidden');
      await expect(rates.isPaused()).resolves.toBe(false);
    });

    it.each(routes)('answers 401 without a key: %s', async (_label, call) => {
      const res = await call('').expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    });
  });
});
