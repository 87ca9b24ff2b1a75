import { sendingBodyLimits } from 'src/common/http/http-edge';
import { randomUUID } from 'node:crypto';
import { PinoLogger } from 'nestjs-pino';
import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';

const ERROR_SHAPE = {
  error: { code: expect.any(String), message: expect.any(String) },
  request_id: expect.any(String),
};

describe('HTTP edge (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({ ALLOWED_ORIGINS: 'https://app.example,http://localhost:5173' });
    key = await t.createKey();
  });
  afterAll(() => t.close());

  describe('X-Request-Id', () => {
    it('generates one and returns it on every response', async () => {
      const res = await request(t.server).get('/health/live').expect(200);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('keeps a sane incoming id and uses it in error bodies', async () => {
      const res = await request(t.server)
        .get('/api/v1/status/x')
        .set('X-Request-Id', 'req-123.abc')
        .expect(401);
      expect(res.headers['x-request-id']).toBe('req-123.abc');
      expect(res.body.request_id).toBe('req-123.abc');
    });

    it('replaces an unsafe incoming id', async () => {
      const res = await request(t.server)
        .get('/health/live')
        .set('X-Request-Id', 'bad id <script>');
      expect(res.headers['x-request-id']).not.toContain('<');
    });
  });

  describe('access log (README "Observability")', () => {
    type Line = { req: Record<string, unknown>; res: { statusCode: number }; msg: string };
    let lines: Line[];
    let level: string;

    beforeEach(() => {
      lines = [];
      const root = PinoLogger.root;
      level = root.level;
      root.level = 'info';
      jest.spyOn(root, 'info').mockImplementation(((obj: Line, msg: string) => {
        lines.push({ ...obj, msg });
      }) as never);
    });
    afterEach(() => {
      jest.restoreAllMocks();
      PinoLogger.root.level = level;
    });
    const settled = () => new Promise((resolve) => setImmediate(resolve));

    it('writes one line per request when it ends, with its request id and status', async () => {
      await request(t.server).get('/api/v1/status/x').set('X-Request-Id', 'req-log.1').expect(401);
      await request(t.server).post('/api/v1/nope').set('X-Request-Id', 'req-log.2').expect(404);
      // A hot route, moved ahead of the rest (docs/ARCHITECTURE.md "Route order").
      await request(t.server).post('/api/v1/send').set('X-Request-Id', 'req-log.3').expect(401);
      await settled();
      expect(lines.map((l) => [(l.req as { id?: string }).id, l.res.statusCode, l.msg])).toEqual([
        ['req-log.1', 401, 'request completed'],
        ['req-log.2', 404, 'request completed'],
        ['req-log.3', 401, 'request completed'],
      ]);
    });

    it('logs what the edge answers itself, before any route', async () => {
      const edge = [
        // A webhook without a signature, refused unread.
        request(t.server).post('/api/v1/webhook').set('X-Request-Id', 'edge-1').send('{}'),
        // Malformed JSON, refused by the body parser.
        request(t.server)
          .post('/api/v1/send')
          .set('X-Request-Id', 'edge-2')
          .set('Content-Type', 'application/json')
          .send('{"to": '),
        // A CORS preflight, answered by the CORS middleware.
        request(t.server)
          .options('/api/v1/send')
          .set('X-Request-Id', 'edge-3')
          .set('Origin', 'https://app.example')
          .set('Access-Control-Request-Method', 'POST'),
      ];
      const statuses: number[] = [];
      for (const r of edge) statuses.push((await r).status);
      await settled();
      expect(statuses).toEqual([401, 400, 204]);
      expect(lines.map((l) => [(l.req as { id?: string }).id, l.res.statusCode])).toEqual([
        ['edge-1', 401],
        ['edge-2', 400],
        ['edge-3', 204],
      ]);
    });

    it('leaves probes out and gives requests no per-request logger', async () => {
      await request(t.server).get('/health/live').expect(200);
      await request(t.server).get('/api/v1/status/x').expect(401);
      await settled();
      expect(lines).toHaveLength(1);
      // pino-http's per-request child logger (`req.log`) is what cost the API its CPU.
      expect((lines[0].req as { log?: unknown }).log).toBeUndefined();
    });
  });

  describe('errors', () => {
    it('answers unknown routes with 404 not_found in the error shape', async () => {
      const res = await request(t.server)
        .get('/api/v1/nope')
        .set('Authorization', `Bearer ${key}`)
        .expect(404);
      expect(res.body).toEqual(ERROR_SHAPE);
      expect(res.body.error.code).toBe('not_found');
    });

    it('answers malformed JSON with 400 validation_error, never a 500', async () => {
      const res = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send('{"to": "a@b.c",')
        .expect(400);
      expect(res.body).toEqual(ERROR_SHAPE);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.message).toMatch(/Malformed JSON/);
    });

    it('answers a body over 1 MB with 413 payload_too_large on routes that carry no message', async () => {
      const big = JSON.stringify({ text: 'x'.repeat(1024 * 1024 + 10) });
      const res = await request(t.server)
        .post('/api/v1/templates')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send(big)
        .expect(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(res.body.error.message).toContain('1mb');
    });

    // README "Sending": MAX_MESSAGE_BYTES (10 MB) of attachments as base64 on top of 1 MB.
    it('lets /api/v1/send take a 10 MB message as base64 and refuses more with 413', async () => {
      const limit = sendingBodyLimits(10 * 1024 * 1024).send;
      expect(limit).toBe('15mb');
      const under = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }));
      expect(under.status).not.toBe(413);
      const res = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ text: 'x'.repeat(15 * 1024 * 1024 + 10) }))
        .expect(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(res.body.error.message).toContain('15mb');
    });

    it('lets /api/v1/batch take 10 MB plus a 10 MB message as base64 and refuses more with 413', async () => {
      const limit = sendingBodyLimits(10 * 1024 * 1024).batch;
      expect(limit).toBe('24mb');
      const ok = JSON.stringify({ recipients: [], pad: 'x'.repeat(11 * 1024 * 1024) });
      const under = await request(t.server)
        .post('/api/v1/batch')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send(ok);
      expect(under.status).not.toBe(413);
      const over = JSON.stringify({ pad: 'x'.repeat(24 * 1024 * 1024 + 10) });
      const res = await request(t.server)
        .post('/api/v1/batch')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send(over)
        .expect(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(res.body.error.message).toContain('24mb');
    });
  });

  describe('security headers', () => {
    it('sets helmet headers and hides x-powered-by', async () => {
      const res = await request(t.server).get('/health/live').expect(200);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-powered-by']).toBeUndefined();
      // Outside production there is no HSTS (localhost over HTTP).
      expect(res.headers['strict-transport-security']).toBeUndefined();
    });
  });

  describe('CORS on /api', () => {
    it('allows a listed origin with the documented methods, headers and max-age', async () => {
      const res = await request(t.server)
        .options('/api/v1/send')
        .set('Origin', 'https://app.example')
        .set('Access-Control-Request-Method', 'POST')
        .expect(204);
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(res.headers['access-control-allow-methods']).toBe('GET,POST,PUT,PATCH,DELETE,OPTIONS');
      expect(res.headers['access-control-max-age']).toBe('600');
      const get = await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('Origin', 'https://app.example')
        .set('Authorization', `Bearer ${key}`);
      expect(get.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(get.headers['access-control-expose-headers']).toBe(
        'X-Request-Id,RateLimit,RateLimit-Policy,Retry-After',
      );
    });

    it('gives a foreign origin no CORS grant', async () => {
      const res = await request(t.server)
        .options('/api/v1/send')
        .set('Origin', 'https://evil.example')
        .set('Access-Control-Request-Method', 'POST');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const get = await request(t.server)
        .get(`/api/v1/status/${randomUUID()}`)
        .set('Origin', 'https://evil.example')
        .set('Authorization', `Bearer ${key}`);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('adds no CORS headers outside /api', async () => {
      const res = await request(t.server).get('/health/live').set('Origin', 'https://app.example');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('route order (docs/ARCHITECTURE.md "Route order")', () => {
    type Layer = {
      route?: { path: unknown; methods: Record<string, boolean> };
      match?: (path: string) => unknown;
    };
    const stack = (): Layer[] =>
      (t.app.getHttpAdapter().getInstance() as unknown as { router: { stack: Layer[] } }).router
        .stack;
    const at = (method: string, path: string): number =>
      stack().findIndex((l) => l.route?.path === path && l.route.methods[method]);

    it('tries send, batch, webhook and the liveness probe before the dashboard and the rest of /api', () => {
      const hot = [
        at('post', '/api/v1/send'),
        at('post', '/api/v1/batch'),
        at('post', '/api/v1/webhook'),
        at('get', '/health/live'),
      ];
      expect(hot[0]).toBeGreaterThan(0);
      expect(hot).toEqual([hot[0], hot[0] + 1, hot[0] + 2, hot[0] + 3]);
      const routes = stack().flatMap((l, i) =>
        typeof l.route?.path === 'string' ? [{ path: l.route.path, i }] : [],
      );
      const firstDashboard = routes.find((r) => r.path.startsWith('/dashboard'))!.i;
      expect(hot[3]).toBeLessThan(firstDashboard);
      expect(hot[3]).toBeLessThan(at('get', '/api/v1/status/:message_id'));
      // Behind the middleware layers that take their paths: the edge's request id, access log
      // and body parsers (the access lines of the hot routes: "access log" above).
      const takers = stack()
        .slice(0, hot[0])
        .flatMap((l, i) => (!l.route && l.match?.('/api/v1/send') ? [i] : []));
      expect(takers.length).toBeGreaterThan(0);
    });

    it('answers on these routes as before', async () => {
      const send = await request(t.server).post('/api/v1/send').send({}).expect(401);
      expect(send.body.error.code).toBe('unauthorized');
      await request(t.server).post('/api/v1/batch').send({}).expect(401);
      const webhook = await request(t.server).post('/api/v1/webhook').send({}).expect(401);
      expect(webhook.body.error.message).toBe('Missing Postal signature');
      await request(t.server).get('/health/live').expect(200);
      const accepted = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .send({ to: 'ann@example.com', from: 'a@shop.example', subject: 'Hi', text: 'x' })
        .expect(202);
      expect(accepted.body.message_id).toEqual(expect.any(String));
      await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .send({ to: 'not an address' })
        .expect(400);
      const wrongMethod = await request(t.server).get('/api/v1/send').expect(405);
      expect(wrongMethod.headers.allow).toBe('POST');
      await request(t.server).post('/API/v1/send').expect(404);
      await request(t.server).post('/api/v1/send/').expect(404);
      await request(t.server).head('/health/live').expect(200);
    });
  });
});

describe('abuse limits (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      RATE_LIMIT_IP_PER_MIN: '6',
      RATE_LIMIT_KEY_PER_MIN: '3',
      AUTH_BAN_MAX_FAILURES: '100',
    });
  });
  afterAll(() => t.close());

  it('limits requests per API key with 429, retry_after and Retry-After', async () => {
    const key = await t.createKey();
    const url = `/api/v1/status/${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const ok = await request(t.server).get(url).set('Authorization', `Bearer ${key}`).expect(404);
      expect(ok.headers.ratelimit).toMatch(new RegExp(`"key";r=${2 - i};t=\\d+$`));
    }
    const res = await request(t.server).get(url).set('Authorization', `Bearer ${key}`).expect(429);
    expect(res.body.error.code).toBe('rate_limit_exceeded');
    expect(res.body.error.retry_after).toBeGreaterThan(0);
    expect(res.body.error.retry_after).toBeLessThanOrEqual(60);
    expect(res.headers['retry-after']).toBe(String(res.body.error.retry_after));
    // Another key is not affected by the first key's limit.
    const other = await t.createKey();
    await request(t.server).get(url).set('Authorization', `Bearer ${other}`).expect(404);
  });

  it('limits requests per IP across keys, but never health', async () => {
    // 5 requests were made above from this IP (the 429 counts too); the IP limit is 6.
    const key = await t.createKey();
    await request(t.server)
      .get(`/api/v1/status/${randomUUID()}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
    const res = await request(t.server)
      .get(`/api/v1/status/${randomUUID()}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(429);
    expect(res.body.error.code).toBe('rate_limit_exceeded');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) await request(t.server).get('/api/v1/health').expect(200);
    await request(t.server).get('/health/live').expect(200);
  });
});
