import request from 'supertest';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

const YEAR_S = 365 * 24 * 3600;

describe('Blacklist API (e2e)', () => {
  let t: TestApp;
  let key: string;
  let sendKey: string;
  let seq = 0;
  /** A fresh address per test so tests sharing the database stay independent. */
  const address = (label = 'user'): string => `${label}${++seq}-${Date.now()}@example.com`;

  const get = (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${key}`);
  const post = (body: object) =>
    request(t.server).post('/api/v1/blacklist').set('Authorization', `Bearer ${key}`).send(body);
  const del = (email: string) =>
    request(t.server)
      .delete(`/api/v1/blacklist/${encodeURIComponent(email)}`)
      .set('Authorization', `Bearer ${key}`);
  const expectValidationError = (res: request.Response, field: string): void => {
    expect(res.body).toEqual({
      error: {
        code: 'validation_error',
        message: expect.any(String),
        details: expect.arrayContaining([{ field, message: expect.any(String) }]),
      },
      request_id: res.headers['x-request-id'],
    });
  };
  const expireNow = (email: string) =>
    t.dataSource.query(
      `UPDATE blacklists SET expires_at = now() - interval '1 second' WHERE email = $1`,
      [email],
    );

  beforeAll(async () => {
    t = await bootTestApp({
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
      AUTH_BAN_MAX_FAILURES: '1000',
    });
    key = await t.createKey('full');
    sendKey = await t.createKey('send');
  });
  afterAll(() => t.close());

  describe('POST /api/v1/blacklist', () => {
    it('adds a permanent manual entry by default and answers 201 with it', async () => {
      const email = address();
      const res = await post({ email }).expect(201);
      expect(res.body).toEqual({
        email,
        reason: 'manual',
        scope: 'all',
        source: 'api',
        details: null,
        expires_at: null,
        created_at: expect.any(String),
      });
      expect(Date.parse(res.body.created_at)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('stores the trimmed lower-cased address with reason, details, source and expiry', async () => {
      const email = address('Ann');
      const before = Date.now();
      const res = await post({
        email: `  ${email.toUpperCase()} `,
        reason: 'complaint',
        details: 'reported by hand',
        source: 'support',
        expires_in: 3600,
      }).expect(201);
      expect(res.body).toMatchObject({
        email: email.toLowerCase(),
        reason: 'complaint',
        source: 'support',
        details: 'reported by hand',
      });
      const expiresAt = Date.parse(res.body.expires_at);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3600_000 - 5_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000 + 5_000);
      const rows = await t.dataSource.query(
        `SELECT email FROM blacklists WHERE email_hash = encode(sha256($1::bytea), 'hex')`,
        [email.toLowerCase()],
      );
      expect(rows).toEqual([{ email: email.toLowerCase() }]);
    });

    it('replaces the entry when the same address is added again in another spelling', async () => {
      const email = address();
      await post({ email, reason: 'unsubscribe' }).expect(201);
      // Already listed: 200, not 201 (README "Management").
      const res = await post({ email: email.toUpperCase(), reason: 'hard_bounce' }).expect(200);
      expect(res.body).toMatchObject({ email, reason: 'hard_bounce' });
      // A weaker reason does not replace a stronger one (README "Management").
      const again = await post({ email, reason: 'unsubscribe' }).expect(200);
      expect(again.body).toMatchObject({ email, reason: 'hard_bounce' });
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM blacklists WHERE email = $1`,
        [email],
      );
      expect(n).toBe(1);
    });

    it('accepts the longest allowed expiry and a null one', async () => {
      await post({ email: address(), expires_in: 10 * YEAR_S }).expect(201);
      const res = await post({ email: address(), expires_in: null }).expect(201);
      expect(res.body.expires_at).toBeNull();
    });

    it.each([
      ['a missing email', {}, 'email'],
      ['a bad email', { email: 'not-an-email' }, 'email'],
      ['an email with two @', { email: 'a@b@example.com' }, 'email'],
      ['a non-string email', { email: 42 }, 'email'],
      ['an unknown reason', { email: 'x@example.com', reason: 'because' }, 'reason'],
      ['a negative expires_in', { email: 'x@example.com', expires_in: -60 }, 'expires_in'],
      ['an expires_in under a minute', { email: 'x@example.com', expires_in: 59 }, 'expires_in'],
      [
        'an expires_in over ten years',
        { email: 'x@example.com', expires_in: 10 * YEAR_S + 1 },
        'expires_in',
      ],
      ['a fractional expires_in', { email: 'x@example.com', expires_in: 90.5 }, 'expires_in'],
      ['a string expires_in', { email: 'x@example.com', expires_in: '3600' }, 'expires_in'],
      ['a too long details', { email: 'x@example.com', details: 'd'.repeat(1001) }, 'details'],
      ['an empty source', { email: 'x@example.com', source: '  ' }, 'source'],
      ['a too long source', { email: 'x@example.com', source: 's'.repeat(65) }, 'source'],
      ['an unknown property', { email: 'x@example.com', color: 'red' }, 'color'],
    ])('answers 400 validation_error for %s', async (_label, body, field) => {
      const res = await post(body).expect(400);
      expectValidationError(res, field);
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM blacklists WHERE email = 'x@example.com'`,
      );
      expect(n).toBe(0);
    });

    it('answers 400 for a body that is not JSON', async () => {
      const res = await request(t.server)
        .post('/api/v1/blacklist')
        .set('Authorization', `Bearer ${key}`)
        .set('Content-Type', 'application/json')
        .send('{"email":')
        .expect(400);
      expect(res.body.error.code).toBe('validation_error');
    });
  });

  describe('GET /api/v1/blacklist/check', () => {
    it('reports an entry as blocked under any spelling of the address', async () => {
      const email = address('ann');
      await post({ email: `${email.toUpperCase()} `, reason: 'complaint' }).expect(201);
      const res = await get(
        `/api/v1/blacklist/check?email=${encodeURIComponent(` ${email}`)}`,
      ).expect(200);
      expect(res.body).toEqual({
        email,
        blocked: true,
        reason: 'complaint',
        scope: 'all',
        expires_at: null,
      });
    });

    it('treats Ann@Example.COM with a trailing space as ann@example.com', async () => {
      await post({ email: 'Ann@Example.COM ', reason: 'manual', expires_in: 600 }).expect(201);
      const res = await get('/api/v1/blacklist/check?email=ann@example.com').expect(200);
      expect(res.body).toEqual({
        email: 'ann@example.com',
        blocked: true,
        reason: 'manual',
        scope: 'all',
        expires_at: expect.any(String),
      });
      await del('ANN@EXAMPLE.com').expect(200);
    });

    it('answers blocked false with null reason and expiry for an unknown address', async () => {
      const email = address();
      const res = await get(`/api/v1/blacklist/check?email=${encodeURIComponent(email)}`).expect(
        200,
      );
      expect(res.body).toEqual({
        email,
        blocked: false,
        reason: null,
        scope: null,
        expires_at: null,
      });
    });

    it('reports an expired entry as not blocked', async () => {
      const email = address();
      await post({ email, expires_in: 60 }).expect(201);
      await expireNow(email);
      const res = await get(`/api/v1/blacklist/check?email=${encodeURIComponent(email)}`).expect(
        200,
      );
      expect(res.body).toEqual({
        email,
        blocked: false,
        reason: null,
        scope: null,
        expires_at: null,
      });
      await expect(t.app.get(BlacklistService).check(email)).resolves.toBeNull();
    });

    it.each([
      ['a missing email', ''],
      ['an empty email', '?email='],
      ['a bad email', '?email=nope'],
      ['an unknown parameter', '?email=a@example.com&x=1'],
    ])('answers 400 validation_error for %s', async (_label, qs) => {
      const res = await get(`/api/v1/blacklist/check${qs}`).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.request_id).toBe(res.headers['x-request-id']);
    });
  });

  describe('GET /api/v1/blacklist', () => {
    it('pages through live entries newest first without gaps or repeats', async () => {
      // Five rows from one statement share created_at: the id breaks the tie.
      const emails = Array.from({ length: 5 }, () => address('page'));
      await t.app
        .get(BlacklistService)
        .addMany(emails.map((email) => ({ email, reason: 'spam_trap' as const })));
      await post({ email: address('page'), reason: 'spam_trap' }).expect(201);
      const newest = await post({ email: address('page'), reason: 'spam_trap' }).expect(201);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const qs: string = `reason=spam_trap&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await get(`/api/v1/blacklist?${qs}`).expect(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.data.map((e: { email: string }) => e.email));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor && pages < 10);

      expect(pages).toBe(4);
      expect(seen).toHaveLength(7);
      expect(new Set(seen).size).toBe(7);
      expect(seen[0]).toBe(newest.body.email);
      const expected: Array<{ email: string }> = await t.dataSource.query(
        `SELECT email FROM blacklists WHERE reason = 'spam_trap' ORDER BY created_at DESC, id DESC`,
      );
      expect(seen).toEqual(expected.map((r) => r.email));
    });

    it('lists entries with every field and filters by reason', async () => {
      const email = address('fbl');
      await post({ email, reason: 'fbl', details: 'from the loop', expires_in: 7200 }).expect(201);
      const res = await get('/api/v1/blacklist?reason=fbl').expect(200);
      expect(res.body).toEqual({
        data: [
          {
            email,
            reason: 'fbl',
            scope: 'all',
            source: 'api',
            details: 'from the loop',
            expires_at: expect.any(String),
            created_at: expect.any(String),
          },
        ],
        next_cursor: null,
      });
    });

    it('leaves out expired entries', async () => {
      const email = address('gone');
      await post({ email, reason: 'unsubscribe', expires_in: 60 }).expect(201);
      const live = await get('/api/v1/blacklist?reason=unsubscribe&limit=500').expect(200);
      expect(live.body.data.map((e: { email: string }) => e.email)).toContain(email);

      await expireNow(email);
      const after = await get('/api/v1/blacklist?reason=unsubscribe&limit=500').expect(200);
      expect(after.body.data.map((e: { email: string }) => e.email)).not.toContain(email);
    });

    it('answers 100 entries by default', async () => {
      await t.app.get(BlacklistService).addMany(
        Array.from({ length: 101 }, () => ({
          email: address('bulk'),
          reason: 'hard_bounce' as const,
        })),
      );
      const res = await get('/api/v1/blacklist?reason=hard_bounce').expect(200);
      expect(res.body.data).toHaveLength(100);
      expect(res.body.next_cursor).toEqual(expect.any(String));
    });

    it.each([
      ['an unknown reason', 'reason=nope', 'reason'],
      ['a zero limit', 'limit=0', 'limit'],
      ['a limit over 500', 'limit=501', 'limit'],
      ['a non-numeric limit', 'limit=ten', 'limit'],
      ['a fractional limit', 'limit=2.5', 'limit'],
      ['a malformed cursor', 'cursor=abc', 'cursor'],
      ['an unknown parameter', 'sort=asc', 'sort'],
    ])('answers 400 validation_error for %s', async (_label, qs, field) => {
      const res = await get(`/api/v1/blacklist?${qs}`).expect(400);
      expectValidationError(res, field);
    });
  });

  describe('DELETE /api/v1/blacklist/:email', () => {
    it('removes the entry under any spelling of the address', async () => {
      const email = address('del');
      await post({ email, reason: 'hard_bounce' }).expect(201);
      const res = await del(` ${email.toUpperCase()}`).expect(200);
      expect(res.body).toEqual({ email, removed: true });
      const check = await get(`/api/v1/blacklist/check?email=${encodeURIComponent(email)}`);
      expect(check.body.blocked).toBe(false);
      await del(email).expect(404);
    });

    it('handles addresses with URL-special characters', async () => {
      const email = `o'neil+news/${++seq}@example.com`;
      await post({ email }).expect(201);
      await del(email).expect(200);
    });

    it('answers 404 not_found for an unknown address', async () => {
      const res = await del(address()).expect(404);
      expect(res.body).toEqual({
        error: { code: 'not_found', message: expect.any(String) },
        request_id: res.headers['x-request-id'],
      });
    });

    it('answers 404 for an expired entry and deletes it', async () => {
      const email = address();
      await post({ email, expires_in: 60 }).expect(201);
      await expireNow(email);
      await del(email).expect(404);
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM blacklists WHERE email = $1`,
        [email],
      );
      expect(n).toBe(0);
    });
  });

  describe('auth', () => {
    const routes: Array<[string, (r: ReturnType<typeof request>) => request.Test]> = [
      ['GET /api/v1/blacklist', (r) => r.get('/api/v1/blacklist')],
      [
        'POST /api/v1/blacklist',
        (r) => r.post('/api/v1/blacklist').send({ email: 'auth@example.com' }),
      ],
      ['GET /api/v1/blacklist/check', (r) => r.get('/api/v1/blacklist/check?email=a@example.com')],
      ['DELETE /api/v1/blacklist/:email', (r) => r.delete('/api/v1/blacklist/a%40example.com')],
    ];

    it.each(routes)('%s answers 403 forbidden to a send-scoped key', async (_label, call) => {
      const res = await call(request(t.server)).set('Authorization', `Bearer ${sendKey}`);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    });

    it.each(routes)('%s answers 401 unauthorized without a key', async (_label, call) => {
      const res = await call(request(t.server));
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    });

    it('let nothing through: no auth entry was stored', async () => {
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM blacklists WHERE email = 'auth@example.com'`,
      );
      expect(n).toBe(0);
    });
  });
});
