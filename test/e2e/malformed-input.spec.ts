import fc from 'fast-check';
import request, { Response } from 'supertest';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { expectApiAnswer } from 'test/utils/fuzz';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(120_000);

/**
 * Malformed input is a 400 in the error shape (README "API overview"), never a 500: cursors
 * beyond their column's range, JSON nested thousands deep, headers a caller may not set,
 * Unicode line breaks in header-bound fields, and calendar dates that do not exist.
 */
describe('malformed input (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
      RATE_LIMIT_BATCH_PER_MIN: '100000',
    });
    key = await t.createKey();
    await t.app.get(DiagnosticsService).upsertOpenReport({
      fingerprint: 'malformed:1',
      reportType: 'hourly_check',
      severity: 'warning',
      summary: 'A report',
      anomalies: [],
      stats: {},
      recommendedActions: [],
    });
  });
  afterAll(() => t.close());

  const b64 = (s: string): string => Buffer.from(s).toString('base64url');
  const get = (url: string) => request(t.server).get(url).set('Authorization', `Bearer ${key}`);
  const postJson = (url: string, json: string, method: 'post' | 'put' = 'post') =>
    request(t.server)
      [method](url)
      .set('Authorization', `Bearer ${key}`)
      .set('Content-Type', 'application/json')
      .send(json);
  const send = (body: Record<string, unknown>) =>
    request(t.server).post('/api/v1/send').set('Authorization', `Bearer ${key}`).send(body);
  const batch = (body: Record<string, unknown>) =>
    request(t.server).post('/api/v1/batch').set('Authorization', `Bearer ${key}`).send(body);

  /** A 400 in the error shape; `field` names a detail's field, or its first segments. */
  const expect400 = (res: Response, field?: string): void => {
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: expect.objectContaining({ code: 'validation_error', message: expect.any(String) }),
      request_id: expect.any(String),
    });
    if (field !== undefined) {
      const fields = (res.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(fields.some((f) => f === field || f.startsWith(`${field}.`))).toBe(true);
    }
  };

  const base = {
    to: 'ann@example.com',
    from: 'Shop <news@shop.example>',
    subject: 'Hi',
    text: 'Hello',
  };

  describe('cursors are range-checked against their column', () => {
    it.each([
      ['messages (bigint)', (c: string) => `/api/v1/messages?cursor=${b64(`m:${c}`)}`],
      ['templates (integer)', (c: string) => `/api/v1/templates?cursor=${b64(c)}`],
      ['reports (integer)', (c: string) => `/api/v1/reports?cursor=${c}`],
    ])('%s: out-of-range values are a 400', async (_name, url) => {
      for (const c of ['9999999999999999999', '9223372036854775808', '2147483648', '9999999999']) {
        // 2147483648 and 9999999999 are valid bigints (messages), out of range for integer.
        const res = await get(url(c));
        if (url('1').startsWith('/api/v1/messages') && c.length === 10) {
          expect(res.status).toBe(200);
        } else {
          expect400(res, 'cursor');
        }
      }
    });

    it('the largest value of each column is still a valid cursor', async () => {
      await get(`/api/v1/messages?cursor=${b64('m:9223372036854775807')}`).expect(200);
      await get(`/api/v1/templates?cursor=${b64('2147483647')}`).expect(200);
      await get('/api/v1/reports?cursor=2147483647').expect(200);
    });

    it('the dashboard logs page answers an out-of-range cursor with a 400 page', async () => {
      const res = await request(t.server)
        .get(`/dashboard/logs?cursor=${b64('m:9999999999999999999')}`)
        .auth('admin', 'admin');
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('text/html');
    });

    it('no digit string of any length, with or without the prefix, makes a cursor a 5xx', async () => {
      const digits = fc.stringMatching(/^[0-9]{1,25}$/);
      await fc.assert(
        fc.asyncProperty(
          digits,
          fc.constantFrom('messages', 'templates', 'reports'),
          async (d, route) => {
            const url =
              route === 'messages'
                ? `/api/v1/messages?cursor=${b64(`m:${d}`)}`
                : route === 'templates'
                  ? `/api/v1/templates?cursor=${b64(d)}`
                  : `/api/v1/reports?cursor=${d}`;
            const res = await get(url);
            expect(res.status).toBeLessThan(500);
            expectApiAnswer(res);
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  describe('deeply nested JSON', () => {
    const deepObject = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const deepArray = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;

    it.each([
      ['POST', '/api/v1/send'],
      ['POST', '/api/v1/batch'],
      ['POST', '/api/v1/templates'],
      ['PUT', '/api/v1/templates/x'],
      ['POST', '/api/v1/templates/x/preview'],
      ['POST', '/api/v1/blacklist'],
      ['POST', '/api/v1/complaints'],
      ['POST', '/api/v1/reports/1/resolve'],
      ['POST', '/api/v1/rate-control/pause'],
    ])('%s %s: a body nested 10,000 deep is a 400', async (method, path) => {
      for (const body of [deepObject(10_000), deepArray(10_000)]) {
        const res = await postJson(path, body, method === 'PUT' ? 'put' : 'post');
        expect400(res);
        expect(res.body.error.message).toMatch(/nested/);
      }
    });

    it('deep variables in a send, a batch recipient and a template preview are a 400 naming the field', async () => {
      const deep = deepObject(10_000);
      expect400(
        await postJson('/api/v1/send', `${JSON.stringify(base).slice(0, -1)},"variables":${deep}}`),
        'variables',
      );
      const b = { from: base.from, subject: 'Hi', text: 'x' };
      expect400(
        await postJson(
          '/api/v1/batch',
          `${JSON.stringify(b).slice(0, -1)},"recipients":[{"to":"a@example.com","variables":${deep}}]}`,
        ),
        'recipients.0.variables',
      );
      // An array nested deep inside a field, just past the limit.
      expect400(
        await postJson(
          '/api/v1/send',
          `${JSON.stringify(base).slice(0, -1)},"variables":{"x":${deepArray(40)}}}`,
        ),
        'variables.x',
      );
    });

    it('a realistically nested variables object is still accepted', async () => {
      let vars: Record<string, unknown> = { leaf: 'ok', list: [1, [2, { x: 3 }]] };
      for (let i = 0; i < 20; i++) vars = { level: vars, n: i };
      await send({ ...base, variables: vars }).expect(202);
    });
  });

  describe('headers a caller may not set', () => {
    const forbidden = [
      'Received',
      'Return-Path',
      'DKIM-Signature',
      'Authentication-Results',
      'ARC-Seal',
      'ARC-Message-Signature',
      'ARC-Authentication-Results',
      'Resent-From',
      'Resent-Message-ID',
      'Content-Type',
      'Content-Transfer-Encoding',
      'MIME-Version',
      'Content-Disposition',
      'X-Postal-MsgID',
      'X-Postal-Tag',
      'From',
      'Bcc',
      'Message-ID',
      'List-Unsubscribe',
      'X-Email-Id',
    ];

    it.each(forbidden)('%s, in any case, is a 400 naming the header', async (name) => {
      for (const spelled of [name, name.toLowerCase(), name.toUpperCase()]) {
        const res = await send({ ...base, headers: { 'X-Entity-Ref': '1', [spelled]: 'v' } });
        expect400(res, 'headers');
        expect(res.body.error.message).toContain(spelled);
      }
    });

    it('the same in a batch', async () => {
      const res = await batch({
        from: base.from,
        subject: 'Hi',
        text: 'x',
        headers: { 'x-postal-msgid': 'abc' },
        recipients: [{ to: 'a@example.com' }],
      });
      expect400(res, 'headers');
      expect(res.body.error.message).toContain('x-postal-msgid');
    });

    it('ordinary custom headers are still accepted', async () => {
      await send({
        ...base,
        headers: { 'X-Entity-Ref': '42', 'X-Postal': 'not the prefix', 'In-Reply-To': '<a@b>' },
      }).expect(202);
    });
  });

  describe('Unicode line breaks in header-bound fields', () => {
    const breaks = ['\u2028', '\u2029', '\u0085', '\u000b', '\u000c', '\r', '\n'];
    const escape = (s: string): string =>
      [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

    it.each(breaks.map((b) => [escape(b), b]))(
      '%s is refused in every header-bound field',
      async (_n, br) => {
        const cases: Array<[Record<string, unknown>, string]> = [
          [{ ...base, subject: `Hi${br}Bcc: x@evil.example` }, 'subject'],
          [{ ...base, from: `Shop${br}Bcc: x <news@shop.example>` }, 'from'],
          [{ ...base, reply_to: `Help${br}X <help@shop.example>` }, 'reply_to'],
          [{ ...base, to: { email: 'ann@example.com', name: `Ann${br}Bcc: x` } }, 'to'],
          [{ ...base, headers: { 'X-Entity-Ref': `a${br}Bcc: x@evil.example` } }, 'headers'],
          [{ ...base, campaign_id: `c${br}x` }, 'campaign_id'],
          [{ ...base, tag: `t${br}x` }, 'tag'],
        ];
        for (const [body, field] of cases) {
          const res = await send(body);
          expect([field, res.status]).toEqual([field, 400]);
          expect400(res, field);
        }
        // A batch rejects such a recipient by index and sends to the others.
        const res = await batch({
          from: base.from,
          subject: 'Hi',
          text: 'x',
          recipients: [
            { to: 'ok@example.com' },
            { to: { email: 'a@example.com', name: `A${br}B` } },
          ],
        }).expect(202);
        expect(res.body.accepted).toBe(1);
        expect(res.body.rejected).toEqual([expect.objectContaining({ index: 1 })]);
      },
    );

    it('a template subject renders without them, whatever the variables hold', async () => {
      await request(t.server)
        .post('/api/v1/templates')
        .set('Authorization', `Bearer ${key}`)
        .send({
          external_id: 'lb-subject',
          name: 'x',
          subject: 'Hi\u2028{{name}}\u0085!',
          plain_content: 'x',
        })
        .expect(201);
      const res = await request(t.server)
        .post('/api/v1/templates/lb-subject/preview')
        .set('Authorization', `Bearer ${key}`)
        .send({ variables: { name: `A${breaks.join('')}Bcc: x@evil.example` } })
        .expect(200);
      expect(res.body.subject).toMatch(/^Hi A +Bcc: x@evil\.example !$/);
    });
  });

  describe('dates that do not exist', () => {
    // Any year: February never has 30 days, April never 31, and no hour is 24:30.
    const year = new Date().getUTCFullYear();
    let common = year;
    while (new Date(Date.UTC(common, 1, 29)).getUTCDate() === 29) common += 1;
    const impossible = [
      `${year}-02-30`,
      `${year}-04-31`,
      `${year}-13-01`,
      `${year}-02-31`,
      `${common}-02-29`,
    ];

    it('send_at on an impossible date is a 400, a real one 30 days ahead is accepted', async () => {
      for (const d of impossible) {
        expect400(await send({ ...base, send_at: `${d}T10:00:00Z` }), 'send_at');
      }
      expect400(await send({ ...base, send_at: `${year}-06-10T24:30:00Z` }), 'send_at');
      expect400(await send({ ...base, send_at: `${year}-06-10T10:61:00Z` }), 'send_at');
      const soon = new Date(Date.now() + 3600_000).toISOString();
      await send({ ...base, send_at: soon }).expect(202);
    });

    it('every date query parameter refuses an impossible date', async () => {
      for (const d of impossible) {
        expect400(await get(`/api/v1/messages?from=${d}T00:00:00Z`), 'from');
        expect400(await get(`/api/v1/messages?from=${year}-06-10T24:30:00Z`), 'from');
        expect400(await get(`/api/v1/stats?from=${year}-06-10T24:30:00Z&to=${d}`));
        expect400(await get(`/api/v1/messages?to=${d}`), 'to');
        expect400(await get(`/api/v1/stats?from=${d}&to=${year + 1}-01-01`), 'from');
        expect400(await get(`/api/v1/stats?from=${year}-01-01&to=${d}T00:00:00Z`), 'to');
        const page = await request(t.server)
          .get(`/dashboard/logs?from=${d}`)
          .auth('admin', 'admin');
        expect(page.status).toBe(400);
      }
    });
  });
});
