import request from 'supertest';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(240_000);

describe('POST /api/v1/batch (e2e)', () => {
  let postal: FakePostal;
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    postal = await new FakePostal().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      DOMAIN_RATE_DEFAULT: '100000',
      WORKER_CONCURRENCY: '50',
      RATE_LIMIT_BATCH_PER_MIN: '1000',
    });
    key = await t.createKey('send');
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  const batch = (body: unknown) =>
    request(t.server)
      .post('/api/v1/batch')
      .set('Authorization', `Bearer ${key}`)
      .send(body as object);

  it('accepts 10,000 recipients with per-recipient rejects and hands each message to Postal exactly once', async () => {
    const blacklist = t.app.get(BlacklistService);
    await blacklist.add({ email: 'user17@big.example', reason: 'hard_bounce' });
    await blacklist.add({ email: 'USER42@big.example', reason: 'complaint' });
    const recipients: Array<{ to: unknown; variables?: Record<string, unknown> }> = [];
    for (let i = 0; i < 10_000; i++)
      recipients.push({ to: `user${i}@big.example`, variables: { n: i } });
    recipients[5] = { to: 'not an address' };
    recipients[6] = { to: { email: 'named@big.example', name: 'Named One' } };
    recipients[7] = { to: 'User8@BIG.example' }; // duplicate of index 8 (case-insensitive)
    recipients[9] = { to: { email: 'x@big.example', name: 'Bad\nName' } };

    const res = await batch({
      subject: 'Hello {{n}}',
      html: '<p>{{shop}} #{{n}}</p>',
      variables: { shop: 'Acme', n: 'shared' },
      campaign_id: 'big-batch',
      recipients,
    }).expect(202);

    const rejects = res.body.rejected as Array<{ index: number; code: string }>;
    const invalid = 'to must be an email address or {"email", "name"}';
    const suppressed = 'the address is on the suppression list';
    expect(rejects).toEqual([
      { index: 5, to: 'not an address', code: 'invalid_recipient', message: invalid },
      {
        index: 8,
        to: 'user8@big.example',
        code: 'duplicate_recipient',
        message: 'the same address appears earlier in recipients',
      },
      // An object recipient is shown by its email: `to` is always a string or null.
      { index: 9, to: 'x@big.example', code: 'invalid_recipient', message: invalid },
      { index: 17, to: 'user17@big.example', code: 'recipient_suppressed', message: suppressed },
      { index: 42, to: 'user42@big.example', code: 'recipient_suppressed', message: suppressed },
    ]);
    expect(res.body.accepted).toBe(10_000 - 5);
    expect(res.body.messages).toHaveLength(10_000 - 5);
    expect(res.body.messages[0]).toEqual({
      index: 0,
      to: 'user0@big.example',
      message_id: expect.any(String),
    });
    const batchId = res.body.batch_id as string;

    const progress = await request(t.server)
      .get(`/api/v1/batches/${batchId}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(progress.body).toEqual(
      expect.objectContaining({
        batch_id: batchId,
        campaign_id: 'big-batch',
        total: 10_000,
        accepted: 9_995,
        rejected: 5,
      }),
    );
    const counted = Object.values(progress.body.by_status as Record<string, number>).reduce(
      (a, b) => a + b,
      0,
    );
    expect(counted).toBe(9_995);

    await waitFor(
      async () => {
        const p = await request(t.server)
          .get(`/api/v1/batches/${batchId}`)
          .set('Authorization', `Bearer ${key}`);
        return p.body.by_status.sent === 9_995 ? p.body : null;
      },
      'every message sent',
      200_000,
      500,
    );
    const ids = new Set(res.body.messages.map((m: { message_id: string }) => m.message_id));
    const delivered = postal.received.filter((m) => ids.has(m.body.headers?.['X-Email-Id']));
    expect(delivered).toHaveLength(9_995);
    expect(new Set(delivered.map((m) => m.body.headers?.['X-Email-Id'])).size).toBe(9_995);
    // Per-recipient variables override shared ones.
    const m123 = delivered.find((m) => m.body.to[0] === 'user123@big.example')!;
    expect(m123.body.subject).toBe('Hello 123');
    expect(m123.body.html_body).toContain('Acme #123');
    expect(delivered.find((m) => m.body.to[0] === 'Named One <named@big.example>')).toBeDefined();
  });

  it.each([
    ['no recipients', { subject: 's', text: 'x', recipients: [] }],
    [
      'more than 10,000 recipients',
      {
        subject: 's',
        text: 'x',
        recipients: Array.from({ length: 10_001 }, (_, i) => ({ to: `a${i}@x.example` })),
      },
    ],
    ['recipients that is not an array', { subject: 's', text: 'x', recipients: 'a@x.example' }],
    ['a recipient without to', { subject: 's', text: 'x', recipients: [{ variables: {} }] }],
    [
      'an unknown property on a recipient',
      { subject: 's', text: 'x', recipients: [{ to: 'a@x.example', cc: 'b@x.example' }] },
    ],
    ['no content', { recipients: [{ to: 'a@x.example' }] }],
    [
      'a subject with CR/LF',
      { subject: 'a\r\nBcc: e@evil.example', text: 'x', recipients: [{ to: 'a@x.example' }] },
    ],
  ])('rejects %s with 400 and accepts nothing', async (_label, body) => {
    const before = (await t.dataSource.query('SELECT count(*)::int AS n FROM email_logs'))[0].n;
    const res = await batch(body).expect(400);
    expect(res.body.error.code).toBe('validation_error');
    expect((await t.dataSource.query('SELECT count(*)::int AS n FROM email_logs'))[0].n).toBe(
      before,
    );
  });

  it('answers 404 template_not_found for an unknown template', async () => {
    const res = await batch({ template_id: 'missing', recipients: [{ to: 'a@x.example' }] }).expect(
      404,
    );
    expect(res.body.error.code).toBe('template_not_found');
  });

  it('accepts a batch where every recipient is rejected, with accepted 0', async () => {
    const res = await batch({
      subject: 's',
      text: 'x',
      recipients: [{ to: 'nope' }, { to: 'also nope' }],
    }).expect(202);
    expect(res.body).toEqual(expect.objectContaining({ accepted: 0, messages: [] }));
    expect(res.body.rejected).toHaveLength(2);
  });

  it('shows every rejected recipient as a string or null, with a message (README "Sending")', async () => {
    // (A missing or null `to` is a 400 for the whole request: the schema requires it.)
    const given: unknown[] = [42, ['a@x.example'], {}, { email: 7 }, true, { name: 'No Email' }];
    const res = await batch({
      subject: 's',
      text: 'x',
      recipients: [...given.map((to) => ({ to })), { to: 'ok@x.example' }],
    }).expect(202);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual(
      given.map((_to, index) => ({
        index,
        to: null,
        code: 'invalid_recipient',
        message: 'to must be an email address or {"email", "name"}',
      })),
    );
  });

  it('answers 404 for an unknown or malformed batch id', async () => {
    await request(t.server)
      .get('/api/v1/batches/8c1d0c8e-7a55-4f49-9a4e-5a4a7b1d2f00')
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
    await request(t.server)
      .get('/api/v1/batches/nope')
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
  });
});

describe('batch rate limit (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({ RATE_LIMIT_BATCH_PER_MIN: '2', DEFAULT_FROM: 'a@shop.example' });
  });
  afterAll(() => t.close());

  it('limits POST /api/v1/batch per IP more strictly than other routes', async () => {
    const key = await t.createKey();
    const post = () =>
      request(t.server)
        .post('/api/v1/batch')
        .set('Authorization', `Bearer ${key}`)
        .send({ subject: 's', text: 'x', recipients: [{ to: 'a@x.example' }] });
    await post().expect(202);
    await post().expect(202);
    const res = await post().expect(429);
    expect(res.body.error.code).toBe('rate_limit_exceeded');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // Other routes stay open to this IP.
    await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to: 'a@x.example', subject: 's', text: 'x' })
      .expect(202);
  });
});
