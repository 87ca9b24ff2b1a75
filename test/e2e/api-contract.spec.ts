import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

/**
 * The API contract a consumer relies on (README "API overview"): 405 + Allow for a known path
 * with another method, 415 for a body that is not JSON, the IETF RateLimit fields, one message
 * per invalid field, validation_error always 400, blacklist create 201 vs 200, the status
 * fields and the messages list's time filters.
 */
describe('API contract (e2e)', () => {
  let t: TestApp;
  let key: string;
  let seq = 0;
  const address = (label = 'c'): string =>
    `${label}${++seq}-${randomUUID().slice(0, 8)}@example.com`;
  const auth = (r: request.Test): request.Test => r.set('Authorization', `Bearer ${key}`);

  beforeAll(async () => {
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
      AUTH_BAN_MAX_FAILURES: '1000',
    });
    key = await t.createKey('full');
  });
  afterAll(() => t.close());

  const expectErrorShape = (res: request.Response, status: number, code: string): void => {
    expect(res.status).toBe(status);
    expect(res.body).toEqual({
      error: expect.objectContaining({ code, message: expect.any(String) }),
      request_id: res.headers['x-request-id'],
    });
  };

  describe('405 for a known path with another method (item 8)', () => {
    it.each([
      ['put', '/api/v1/send', 'POST'],
      ['get', '/api/v1/send', 'POST'],
      ['delete', '/api/v1/templates', 'GET, HEAD, POST'],
      ['post', `/api/v1/status/${randomUUID()}`, 'GET, HEAD'],
      ['patch', '/api/v1/templates/welcome', 'DELETE, GET, HEAD, PUT'],
      ['post', '/api/v1/blacklist/check', 'DELETE, GET, HEAD'],
      ['post', '/health/live', 'GET, HEAD'],
    ] as const)('%s %s → 405 with Allow: %s', async (method, path, allow) => {
      const res = await auth(request(t.server)[method](path));
      expectErrorShape(res, 405, 'method_not_allowed');
      expect(res.headers.allow).toBe(allow);
    });

    it.each([
      ['get', '/api/v1/nothing-here'],
      ['post', '/api/v1/nothing-here'],
      ['post', '/API/v1/send'],
      ['post', '/api/v1/send/'],
      ['get', '/api/v1/status/'],
    ] as const)('%s %s (unknown path or another spelling) stays a 404', async (method, path) => {
      const res = await auth(request(t.server)[method](path));
      expectErrorShape(res, 404, 'not_found');
      expect(res.headers.allow).toBeUndefined();
    });
  });

  describe('415 for a body that is not JSON (item 9)', () => {
    const sendBody = { to: 'ann@example.com', from: 'a@shop.example', subject: 'Hi', text: 'x' };

    it.each([
      ['post', '/api/v1/send', 'text/plain', JSON.stringify(sendBody)],
      ['post', '/api/v1/send', 'application/x-www-form-urlencoded', 'to=ann%40example.com'],
      ['post', '/api/v1/send', 'multipart/form-data; boundary=x', '--x\r\n\r\n--x--\r\n'],
      ['post', '/api/v1/batch', 'application/xml', '<batch/>'],
      ['post', '/api/v1/blacklist', 'text/plain', '{"email":"ann@example.com"}'],
      ['post', '/api/v1/templates', 'text/plain', 'hello'],
      ['put', '/api/v1/templates/welcome', 'text/csv', 'a,b'],
      ['post', '/api/v1/complaints', 'application/vnd.api+json', '{"email":"a@b.example"}'],
      ['post', '/api/v1/rate-control/pause', 'text/plain', '{}'],
    ] as const)('%s %s with %s → 415', async (method, path, type, body) => {
      const res = await auth(request(t.server)[method](path)).set('Content-Type', type).send(body);
      expectErrorShape(res, 415, 'unsupported_media_type');
    });

    it('answers 415 for a JSON body in an unsupported charset', async () => {
      const res = await auth(request(t.server).post('/api/v1/blacklist'))
        .set('Content-Type', 'application/json; charset=latin1')
        .send('{"email":"ann@example.com"}');
      expectErrorShape(res, 415, 'unsupported_media_type');
    });

    it('accepts application/json with a charset, and a bodiless POST without a type', async () => {
      await auth(request(t.server).post('/api/v1/send'))
        .set('Content-Type', 'application/json; charset=utf-8')
        .send(JSON.stringify(sendBody))
        .expect(202);
      await auth(request(t.server).post('/api/v1/rate-control/pause')).expect(200);
      await auth(request(t.server).post('/api/v1/rate-control/resume')).expect(200);
    });

    it('keeps 404 and 405 ahead of 415', async () => {
      const unknown = await auth(request(t.server).post('/api/v1/nothing-here'))
        .set('Content-Type', 'text/plain')
        .send('x');
      expect(unknown.status).toBe(404);
      const wrongMethod = await auth(request(t.server).put('/api/v1/send'))
        .set('Content-Type', 'text/plain')
        .send('x');
      expect(wrongMethod.status).toBe(405);
    });
  });

  describe('one message per invalid field (item 11)', () => {
    it.each([
      ['/api/v1/messages?limit=abc', 'limit', 'limit must be an integer number'],
      ['/api/v1/blacklist?limit=abc', 'limit', 'limit must be an integer number'],
      ['/api/v1/templates?limit=abc', 'limit', 'limit must be an integer number'],
      ['/api/v1/blacklist/check', 'email', 'email is required'],
      [
        `/api/v1/blacklist/check?email=${'x'.repeat(400)}`,
        'email',
        'email must be an email address',
      ],
    ])('GET %s → one detail for %s', async (path, field, message) => {
      const res = await auth(request(t.server).get(path));
      expectErrorShape(res, 400, 'validation_error');
      expect(res.body.error.details).toEqual([{ field, message }]);
      expect(res.body.error.message).toBe(message);
    });

    it('POST /api/v1/send without to: "to is required", once', async () => {
      const res = await auth(request(t.server).post('/api/v1/send')).send({
        from: 'a@shop.example',
        subject: 'Hi',
        text: 'x',
      });
      expectErrorShape(res, 400, 'validation_error');
      expect(res.body.error.details).toEqual([{ field: 'to', message: 'to is required' }]);
    });

    it('two invalid fields: two details, one each', async () => {
      const res = await auth(request(t.server).get('/api/v1/messages?limit=abc&batch_id=nope'));
      expectErrorShape(res, 400, 'validation_error');
      expect(res.body.error.details).toHaveLength(2);
      expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
        'batch_id',
        'limit',
      ]);
    });
  });

  describe('validation_error is always 400 (item 12)', () => {
    it.each([
      ['post', '/api/v1/templates', { name: 'N', subject: 'S', html_content: '<p>x</p>' }],
      ['post', '/api/v1/templates', { external_id: 'has space', name: 'N', subject: 'S' }],
      ['post', '/api/v1/send', { to: 'not an address', subject: 'S', text: 'x' }],
      ['post', '/api/v1/blacklist', { email: 'nope' }],
    ] as const)('%s %s %j → 400 validation_error', async (method, path, body) => {
      const res = await auth(request(t.server)[method](path)).send(body);
      expectErrorShape(res, 400, 'validation_error');
    });

    it('a taken external_id and a template without a body are 400 validation_error too', async () => {
      const external_id = `tpl-${randomUUID().slice(0, 8)}`;
      const body = { external_id, name: 'N', subject: 'S', html_content: '<p>x</p>' };
      await auth(request(t.server).post('/api/v1/templates')).send(body).expect(201);
      const taken = await auth(request(t.server).post('/api/v1/templates')).send(body);
      expectErrorShape(taken, 400, 'validation_error');
      const noBody = await auth(request(t.server).put(`/api/v1/templates/${external_id}`)).send({
        html_content: '',
      });
      expectErrorShape(noBody, 400, 'validation_error');
    });
  });

  describe('POST /api/v1/blacklist: 201 when created, 200 when already listed (item 13)', () => {
    const post = (body: object) => auth(request(t.server).post('/api/v1/blacklist')).send(body);

    it('answers 201 the first time and 200 with the existing entry after', async () => {
      const email = address();
      const created = await post({ email, reason: 'hard_bounce', details: 'first' }).expect(201);
      const again = await post({ email: ` ${email.toUpperCase()}`, reason: 'manual' }).expect(200);
      expect(again.body).toEqual(created.body);
      expect(again.body.reason).toBe('hard_bounce');
      expect(again.body.details).toBe('first');
    });

    it('never downgrades: a weaker reason keeps the stronger one (200)', async () => {
      const email = address();
      await post({ email, reason: 'complaint' }).expect(201);
      for (const reason of ['unsubscribe', 'manual', 'fbl']) {
        const res = await post({ email, reason }).expect(200);
        expect(res.body.reason).toBe('complaint');
      }
    });

    it('a stronger reason upgrades the entry (200), a lapsed entry counts as new (201)', async () => {
      const email = address();
      await post({ email, reason: 'unsubscribe' }).expect(201);
      const up = await post({ email, reason: 'spam_trap' }).expect(200);
      expect(up.body.reason).toBe('spam_trap');
      await t.dataSource.query(
        `UPDATE blacklists SET expires_at = now() - interval '1 second' WHERE email = $1`,
        [email],
      );
      const renewed = await post({ email, reason: 'manual' }).expect(201);
      expect(renewed.body.reason).toBe('manual');
    });
  });

  describe('status fields and the messages list time filters (item 14)', () => {
    it('the status names from, subject (as rendered) and batch_id', async () => {
      const sent = await auth(request(t.server).post('/api/v1/send'))
        .send({
          to: address('st'),
          from: 'Shop <news@shop.example>',
          subject: 'Hi {{name}}',
          text: 'Hello',
          variables: { name: 'Ann' },
        })
        .expect(202);
      const queued = await auth(request(t.server).get(`/api/v1/status/${sent.body.message_id}`));
      expect(queued.body).toMatchObject({ from: 'Shop <news@shop.example>', batch_id: null });
      expect(queued.body).toHaveProperty('subject');
      const done = await waitFor(async () => {
        const r = await auth(request(t.server).get(`/api/v1/status/${sent.body.message_id}`));
        return r.body.status === 'delivered' ? r.body : null;
      }, 'delivered');
      expect(done).toMatchObject({
        from: 'Shop <news@shop.example>',
        subject: 'Hi Ann',
        batch_id: null,
      });

      const batch = await auth(request(t.server).post('/api/v1/batch'))
        .send({
          from: 'news@shop.example',
          subject: 'Batch',
          text: 'x',
          recipients: [{ to: address('b') }],
        })
        .expect(202);
      const one = await auth(
        request(t.server).get(`/api/v1/status/${batch.body.messages[0].message_id}`),
      ).expect(200);
      expect(one.body).toMatchObject({ from: 'news@shop.example', batch_id: batch.body.batch_id });
      const list = await auth(
        request(t.server).get(`/api/v1/messages?batch_id=${batch.body.batch_id}`),
      ).expect(200);
      expect(list.body.data[0]).toMatchObject({
        from: 'news@shop.example',
        batch_id: batch.body.batch_id,
      });
    });

    it('filters on created_after / created_before, with from / to as deprecated aliases', async () => {
      const campaign = `cmp-${randomUUID().slice(0, 8)}`;
      const sent = await auth(request(t.server).post('/api/v1/send'))
        .send({
          to: address('f'),
          from: 'a@shop.example',
          subject: 'S',
          text: 'x',
          campaign_id: campaign,
        })
        .expect(202);
      const past = new Date(Date.now() - 3_600_000).toISOString();
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const ids = async (query: string): Promise<string[]> => {
        const res = await auth(
          request(t.server).get(`/api/v1/messages?campaign_id=${campaign}&${query}`),
        ).expect(200);
        return res.body.data.map((m: { message_id: string }) => m.message_id);
      };
      expect(await ids(`created_after=${past}`)).toEqual([sent.body.message_id]);
      expect(await ids(`created_after=${future}`)).toEqual([]);
      expect(await ids(`created_before=${future}`)).toEqual([sent.body.message_id]);
      expect(await ids(`created_before=${past}`)).toEqual([]);
      expect(await ids(`from=${future}`)).toEqual([]);
      expect(await ids(`to=${past}`)).toEqual([]);
      expect(await ids(`from=${past}&to=${future}`)).toEqual([sent.body.message_id]);

      const bad = await auth(request(t.server).get('/api/v1/messages?created_after=yesterday'));
      expectErrorShape(bad, 400, 'validation_error');
      expect(bad.body.error.details).toEqual([
        { field: 'created_after', message: expect.any(String) },
      ]);
      const both = await auth(
        request(t.server).get(`/api/v1/messages?created_after=${past}&from=${future}`),
      );
      expectErrorShape(both, 400, 'validation_error');
    });
  });
});

describe('RateLimit fields (item 10, draft-ietf-httpapi-ratelimit-headers-09)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({
      RATE_LIMIT_IP_PER_MIN: '5',
      RATE_LIMIT_KEY_PER_MIN: '1000',
      RATE_LIMIT_BATCH_PER_MIN: '2',
      AUTH_BAN_MAX_FAILURES: '1000',
    });
    key = await t.createKey('full');
  });
  afterAll(() => t.close());

  const from = (ip: string) => (r: request.Test) => r.set('X-Forwarded-For', ip);

  it('describes every limit the request counted against, and the one that trips', async () => {
    const ip = from('198.51.100.7');
    const url = `/api/v1/status/${randomUUID()}`;
    for (let i = 0; i < 5; i++) {
      const res = await ip(request(t.server).get(url).set('Authorization', `Bearer ${key}`));
      expect(res.status).toBe(404);
      expect(res.headers['ratelimit-policy']).toBe('"ip";q=5;w=60, "key";q=1000;w=60');
      expect(res.headers.ratelimit).toMatch(
        new RegExp(`^"ip";r=${4 - i};t=\\d+, "key";r=${999 - i};t=\\d+$`),
      );
      expect(Object.keys(res.headers).filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
    }
    const tripped = await ip(request(t.server).get(url).set('Authorization', `Bearer ${key}`));
    expect(tripped.status).toBe(429);
    expect(tripped.body.error.code).toBe('rate_limit_exceeded');
    expect(tripped.headers['ratelimit-policy']).toBe('"ip";q=5;w=60');
    const m = /^"ip";r=0;t=(\d+)$/.exec(tripped.headers.ratelimit);
    expect(m).not.toBeNull();
    expect(tripped.headers['retry-after']).toBe(m![1]);
  });

  it('an unauthenticated request shows the per-IP limit only', async () => {
    const res = await from('198.51.100.8')(request(t.server).get('/api/v1/templates'));
    expect(res.status).toBe(401);
    expect(res.headers['ratelimit-policy']).toBe('"ip";q=5;w=60');
    expect(res.headers.ratelimit).toMatch(/^"ip";r=4;t=\d+$/);
  });

  it('POST /api/v1/batch adds the batch limit', async () => {
    const res = await from('198.51.100.9')(
      request(t.server).post('/api/v1/batch').set('Authorization', `Bearer ${key}`),
    ).send({
      from: 'a@shop.example',
      subject: 'S',
      text: 'x',
      recipients: [{ to: 'x@example.com' }],
    });
    expect(res.status).toBe(202);
    expect(res.headers['ratelimit-policy']).toBe(
      '"ip";q=5;w=60, "batch";q=2;w=60, "key";q=1000;w=60',
    );
    expect(res.headers.ratelimit).toMatch(/^"ip";r=4;t=\d+, "batch";r=1;t=\d+, "key";r=\d+;t=\d+$/);
  });

  it('CORS exposes the RateLimit fields', async () => {
    const res = await from('198.51.100.10')(
      request(t.server).get('/api/v1/templates').set('Origin', 'http://localhost:3000'),
    ).set('Authorization', `Bearer ${key}`);
    const exposed = String(res.headers['access-control-expose-headers']).split(',');
    expect(exposed).toEqual(
      expect.arrayContaining(['RateLimit', 'RateLimit-Policy', 'Retry-After']),
    );
  });
});
