import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('API key authentication (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    // A high ban threshold here; the ban has its own describe below with its own app.
    t = await bootTestApp({ AUTH_BAN_MAX_FAILURES: '1000' });
  });
  afterAll(() => t.close());

  const statusUrl = (): string => `/api/v1/status/${randomUUID()}`;

  it('answers 401 unauthorized in the error shape without an Authorization header', async () => {
    const res = await request(t.server).get(statusUrl()).expect(401);
    expect(res.body).toEqual({
      error: { code: 'unauthorized', message: expect.stringContaining('Bearer') },
      request_id: res.headers['x-request-id'],
    });
  });

  it('answers 401 for a malformed Authorization header', async () => {
    for (const header of ['Basic abc', 'Bearer', 'Bearer a b', 'esk_x']) {
      const res = await request(t.server).get(statusUrl()).set('Authorization', header);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('answers 401 for an unknown key', async () => {
    const res = await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer esk_${'A'.repeat(40)}`)
      .expect(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('accepts a valid key and answers 404 not_found for an unknown message', async () => {
    const key = await t.createKey();
    const res = await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('accepts the scheme name in any case', async () => {
    const key = await t.createKey();
    await request(t.server).get(statusUrl()).set('Authorization', `bearer ${key}`).expect(404);
  });

  it('answers 401 once a key is revoked', async () => {
    const keys = t.app.get(ApiKeysService);
    const created = await keys.create('to revoke', 'full');
    await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer ${created.key}`)
      .expect(404);
    await expect(keys.revoke(created.id)).resolves.toBe(true);
    const res = await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer ${created.key}`)
      .expect(401);
    expect(res.body.error.message).toMatch(/revoked/);
  });

  it('lets a send-scoped key read message status (a send-scope route)', async () => {
    const key = await t.createKey('send');
    await request(t.server).get(statusUrl()).set('Authorization', `Bearer ${key}`).expect(404);
  });

  it('stores only the hash and an 8-character prefix of a key', async () => {
    const key = await t.createKey();
    const rows: Array<{ key_prefix: string; key_hash: string }> = await t.dataSource.query(
      'SELECT key_prefix, key_hash FROM api_keys WHERE key_prefix = $1',
      [key.slice(0, 8)],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(key);
    expect(key).toMatch(/^esk_[0-9A-Za-z]{40}$/);
  });

  it('updates last_used_at on first use and not again within the minute', async () => {
    const keys = t.app.get(ApiKeysService);
    const created = await keys.create('touch', 'full');
    await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer ${created.key}`)
      .expect(404);
    const read = async (): Promise<Date | null> =>
      (await t.dataSource.query('SELECT last_used_at FROM api_keys WHERE id = $1', [created.id]))[0]
        .last_used_at;
    // The write is off the request path: wait for it.
    for (let i = 0; i < 50 && !(await read()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await read()).not.toBeNull();
    const sentinel = new Date('2020-01-01T00:00:00Z');
    await t.dataSource.query('UPDATE api_keys SET last_used_at = $2 WHERE id = $1', [
      created.id,
      sentinel,
    ]);
    await request(t.server)
      .get(statusUrl())
      .set('Authorization', `Bearer ${created.key}`)
      .expect(404);
    await new Promise((r) => setTimeout(r, 200));
    expect((await read())?.toISOString()).toBe(sentinel.toISOString());
  });
});

describe('failed-auth ban (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({
      AUTH_BAN_MAX_FAILURES: '5',
      AUTH_BAN_FIND_TIME_S: '60',
      AUTH_BAN_TIME_S: '3600',
    });
  });
  afterAll(() => t.close());

  it('bans an IP after 5 failures within the window, even for a good key', async () => {
    const good = await t.createKey();
    const url = `/api/v1/status/${randomUUID()}`;
    for (let i = 0; i < 4; i++) {
      await request(t.server).get(url).set('Authorization', 'Bearer nope').expect(401);
    }
    // Still below the threshold: a good key works.
    await request(t.server).get(url).set('Authorization', `Bearer ${good}`).expect(404);
    await request(t.server).get(url).set('Authorization', 'Bearer nope').expect(401);
    const res = await request(t.server).get(url).set('Authorization', `Bearer ${good}`).expect(403);
    expect(res.body.error.code).toBe('blocked');
    expect(res.body.error.retry_after).toBeGreaterThan(3500);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(3500);
    // Health is exempt: probes keep working.
    await request(t.server).get('/api/v1/health').expect(200);
  });
});
