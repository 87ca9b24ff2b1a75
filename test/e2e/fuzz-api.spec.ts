import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import request, { Response } from 'supertest';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import {
  dtoBody,
  encodeComponent,
  expectApiAnswer,
  hostileJson,
  hostileObjectJson,
  hostileString,
  jsonOf,
  malformedBody,
  pathSegment,
  prototypeSnapshot,
  queryString,
  storable,
  variablesJson,
} from 'test/utils/fuzz';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(120_000);

/**
 * Property tests over every authenticated /api/v1 route (README "API overview"): any JSON, wrong
 * types, huge and unicode strings, prototype keys, malformed bodies, wrong content types and
 * hostile query strings and path segments. The contract: never a 5xx, every error a 4xx in the
 * one error body, and whatever was accepted is really stored.
 */

const RUNS = 40;

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

interface Call {
  method: Method;
  path: string;
  /** JSON text, or raw bytes with their own content type. */
  json?: string;
  raw?: { body: string | Buffer; contentType?: string };
  headers?: Record<string, string>;
}

let seq = 0;
const unique = (label: string): string => `${label}-${Date.now().toString(36)}-${++seq}`;

// What passes validation, so that a good share of the generated requests reach the service.
const address = fc.uuid().map((u) => `f-${u.slice(0, 8)}@fuzz.example`);
const noCrlf = (max: number) =>
  fc
    .string({ unit: 'binary', maxLength: max })
    .map(storable)
    .filter((s) => !/[\r\n]/.test(s));
const oneLine = (max: number) =>
  noCrlf(max)
    .filter((s) => s.length > 0)
    .map((s) => JSON.stringify(s));
const isoSoon = fc
  .integer({ min: -3600, max: 29 * 24 * 3600 })
  .map((s) => JSON.stringify(new Date(Date.now() + s * 1000).toISOString()));
const templatePiece = fc.oneof(
  hostileString(20).map((s) => storable(s).replace(/[{}]/g, '')),
  fc.constantFrom(
    '{{first_name}}',
    '{{{raw}}}',
    '{{#if x}}yes{{else}}no{{/if}}',
    '{{#each items}}{{this}}{{/each}}',
    '{{unsubscribe_url}}',
    '<a href="https://shop.example/x?a=1&amp;b=2">link</a>',
    '{{lookup this "constructor"}}',
    '{{constructor.constructor}}',
    '{{__proto__}}',
    '</body>',
  ),
);
/** Handlebars that compiles, and now and then some that does not (a 422) or fails to render. */
const handlebarsSource = fc.oneof(
  { weight: 5, arbitrary: fc.array(templatePiece, { maxLength: 6 }).map((p) => p.join('')) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{{> partial}}',
      '{{#if}}',
      '{{',
      'a }} b',
      '{{missingHelper x}}',
      '{{log "x"}}',
      '{{#each}}{{/each}}',
      '{{constructor.constructor "return 1"}}',
    ),
  },
);
const headersJson = fc
  .dictionary(fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/), noCrlf(40), { maxKeys: 4 })
  .map((h) => JSON.stringify(h));
const bool = fc.boolean().map(String);

const COMMON_FIELDS: Record<string, fc.Arbitrary<string>> = {
  from: jsonOf('Shop <news@shop.example>', 'a@b.example', '"Ann \\"A\\"" <ann@shop.example>'),
  reply_to: jsonOf('help@shop.example'),
  variables: variablesJson(),
  campaign_id: oneLine(30),
  tag: oneLine(30),
  headers: headersJson,
  track_opens: bool,
  track_clicks: bool,
  unsubscribe: bool,
  send_at: isoSoon,
};

/** A send's content: a stored template, or inline subject/html/text (README "Sending"). */
const contentFields = (templateId: string): Array<Record<string, fc.Arbitrary<string>>> => [
  { template_id: jsonOf(templateId), subject: oneLine(80), ...COMMON_FIELDS },
  {
    subject: oneLine(80),
    html: handlebarsSource.map((s) => JSON.stringify(s)),
    text: handlebarsSource.map((s) => JSON.stringify(s)),
    ...COMMON_FIELDS,
  },
];

describe('API fuzz (e2e)', () => {
  let t: TestApp;
  let base: string;
  let key: string;
  let templateId: string;
  let reportId: number;
  let prototypes: string;

  beforeAll(async () => {
    t = await bootTestApp({
      RATE_LIMIT_IP_PER_MIN: '1000000',
      RATE_LIMIT_KEY_PER_MIN: '1000000',
      RATE_LIMIT_BATCH_PER_MIN: '1000000',
      AUTH_BAN_MAX_FAILURES: '1000000',
      DEFAULT_FROM: 'Fuzz <fuzz@shop.example>',
    });
    key = await t.createKey('full');
    // One listening socket for every request, instead of one ephemeral server per request.
    await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    templateId = unique('fz-tpl');
    await call({
      method: 'post',
      path: '/api/v1/templates',
      json: JSON.stringify({
        external_id: templateId,
        name: 'Fuzz',
        subject: 'Hi {{first_name}}',
        html_content: '<p>Hello {{first_name}} <a href="https://shop.example/">shop</a></p>',
      }),
    });
    reportId = (
      await t.app.get(DiagnosticsService).upsertOpenReport({
        fingerprint: unique('fuzz'),
        reportType: 'manual',
        severity: 'warning',
        summary: 'fuzz target',
      })
    ).id;
    prototypes = prototypeSnapshot();
  });
  afterEach(() => {
    if (prototypes === undefined) return; // beforeAll failed: that failure is the report
    // Whatever the bodies carried, no request may have written onto a shared prototype.
    expect(prototypeSnapshot()).toBe(prototypes);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
  afterAll(async () => {
    if (!t) return;
    // The process is still serving after everything above.
    const live = await request(base).get('/health/live');
    expect(live.status).toBe(200);
    await t.close();
  });

  async function call(c: Call): Promise<Response> {
    let req = request(base)[c.method](c.path).set('Authorization', `Bearer ${key}`);
    for (const [name, value] of Object.entries(c.headers ?? {})) req = req.set(name, value);
    if (c.json !== undefined) return req.set('Content-Type', 'application/json').send(c.json);
    if (c.raw !== undefined) {
      if (c.raw.contentType !== undefined) req = req.set('Content-Type', c.raw.contentType);
      return req.send(c.raw.body);
    }
    return req;
  }

  /** Runs a property whose every request must keep the API contract. */
  async function fuzz<T>(
    arb: fc.Arbitrary<T>,
    toCall: (input: T) => Call,
    after?: (res: Response, input: T) => Promise<void>,
    numRuns = RUNS,
    /** Inputs that once broke the contract (regressions), run before the random ones. */
    examples: NoInfer<T>[] = [],
  ): Promise<void> {
    await fc.assert(
      fc.asyncProperty(arb, async (input) => {
        const res = await call(toCall(input));
        expectApiAnswer(res);
        if (after) await after(res, input);
      }),
      { numRuns, examples: examples.map((e) => [e] as [T]) },
    );
  }

  async function logRow(messageId: string): Promise<Record<string, unknown> | undefined> {
    const rows = await t.dataSource.query(
      'SELECT recipient, subject, status, batch_id FROM email_logs WHERE external_message_id = $1',
      [messageId],
    );
    return rows[0];
  }

  describe('POST /api/v1/send', () => {
    it('answers 202 (and has stored the row) or a 4xx for any body', async () => {
      const to = fc.oneof(
        address.map((a) => JSON.stringify(a)),
        fc
          .tuple(address, fc.option(noCrlf(30)))
          .map(([email, name]) => JSON.stringify({ email: ` ${email} `, name })),
      );
      const idempotency = fc.option(fc.stringMatching(/^[!-~]{1,40}$/), { freq: 4 });
      let accepted = 0;
      await fuzz(
        fc.tuple(
          fc.oneof(
            ...contentFields(templateId).map((fields) =>
              dtoBody({ to, ...fields }, { required: ['to'] }),
            ),
          ),
          idempotency,
        ),
        ([json, idem]): Call => ({
          method: 'post',
          path: '/api/v1/send',
          json,
          headers: idem === null ? {} : { 'Idempotency-Key': idem },
        }),
        async (res, [json]) => {
          if (res.status !== 202) return;
          accepted++;
          const row = await logRow(res.body.message_id);
          expect(row).toBeDefined();
          const sent = JSON.parse(json) as { to: string | { email: string } };
          const email = typeof sent.to === 'string' ? sent.to : sent.to.email;
          expect(row!.recipient).toBe(email.trim());
        },
        80,
        // Found by fuzzing: a lone surrogate in variables failed the jsonb insert with a 500.
        [['{"to":"c@fuzz.example","subject":"s","text":"t","variables":{"v":"\\udfff"}}', null]],
      );
      // The generator is not so hostile that nothing ever gets through.
      expect(accepted).toBeGreaterThan(0);
    });
  });

  describe('POST /api/v1/batch', () => {
    it('answers 202 with every accepted message stored, or a 4xx, for any body', async () => {
      const recipient = fc
        .tuple(
          // A bad address is refused on its own; bad text anywhere refuses the whole batch.
          fc.oneof(
            { weight: 3, arbitrary: address.map((a) => JSON.stringify(a)) },
            { weight: 1, arbitrary: hostileJson(1) },
          ),
          fc.option(
            fc.oneof(
              { weight: 4, arbitrary: variablesJson() },
              { weight: 1, arbitrary: hostileObjectJson() },
            ),
          ),
        )
        .map(([to, vars]) => (vars === null ? `{"to":${to}}` : `{"to":${to},"variables":${vars}}`));
      const recipients = fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .array(recipient, { minLength: 1, maxLength: 6 })
            .map((r) => `[${r.join(',')}]`),
        },
        { weight: 1, arbitrary: hostileJson(2) },
      );
      let accepted = 0;
      await fuzz(
        fc.oneof(
          ...contentFields(templateId).map((fields) =>
            dtoBody({ recipients, ...fields }, { required: ['recipients'] }),
          ),
        ),
        (json) => ({ method: 'post', path: '/api/v1/batch', json }),
        async (res) => {
          if (res.status !== 202) return;
          accepted++;
          const body = res.body as {
            batch_id: string;
            accepted: number;
            messages: Array<{ message_id: string; to: string }>;
          };
          const rows = await t.dataSource.query(
            'SELECT external_message_id, recipient FROM email_logs WHERE batch_id = $1',
            [body.batch_id],
          );
          expect(rows).toHaveLength(body.accepted);
          expect(
            new Set(rows.map((r: { external_message_id: string }) => r.external_message_id)),
          ).toEqual(new Set(body.messages.map((m) => m.message_id)));
        },
        80,
        // Found by fuzzing: U+0000 and lone surrogates reached PostgreSQL as 500s.
        [
          '{"recipients":[{"to":"a@fuzz.example"}],"subject":"s","text":"t","campaign_id":"\\u0000"}',
          '{"recipients":[{"to":"b@fuzz.example","variables":{"v":"\\ud800"}}],"subject":"s","text":"t"}',
        ],
      );
      expect(accepted).toBeGreaterThan(0);
    });
  });

  describe('templates', () => {
    const templateFields = {
      name: oneLine(40),
      subject: handlebarsSource.filter((s) => s.length > 0).map((s) => JSON.stringify(s)),
      html_content: handlebarsSource.map((s) => JSON.stringify(s)),
      plain_content: handlebarsSource.map((s) => JSON.stringify(s)),
      variables: fc
        .array(
          fc.oneof(
            { weight: 9, arbitrary: fc.stringMatching(/^[a-z_][a-z0-9_.]{0,10}$/) },
            { weight: 1, arbitrary: hostileString(10) },
          ),
          { maxLength: 4 },
        )
        .map((v) => JSON.stringify(v)),
    };

    it('POST: 201 with every field stored as sent, or a 4xx', async () => {
      let created = 0;
      await fuzz(
        dtoBody(
          {
            external_id: fc.constant(null).map(() => JSON.stringify(unique('fz'))),
            ...templateFields,
          },
          { required: ['external_id', 'name', 'subject'] },
        ),
        (json) => ({ method: 'post', path: '/api/v1/templates', json }),
        async (res, json) => {
          if (res.status !== 201) return;
          created++;
          const sent = JSON.parse(json) as Record<string, unknown>;
          const got = await call({
            method: 'get',
            path: `/api/v1/templates/${encodeComponent(res.body.external_id)}`,
          });
          expectApiAnswer(got, [200]);
          for (const field of ['external_id', 'name', 'subject', 'html_content', 'plain_content']) {
            // An empty body part is no part: stored as null.
            if (typeof sent[field] === 'string') expect(got.body[field]).toBe(sent[field] || null);
          }
        },
        60,
      );
      expect(created).toBeGreaterThan(0);
    });

    it('PUT: 200 or a 4xx for any id and body', async () => {
      await fuzz(
        fc.tuple(
          pathSegment(fc.constant(templateId)),
          dtoBody({ ...templateFields, active: bool }),
        ),
        ([id, json]) => ({ method: 'put', path: `/api/v1/templates/${id}`, json }),
      );
    });

    it('GET, DELETE and preview: a 2xx or a 4xx for any id and variables', async () => {
      await fuzz(
        fc.tuple(
          fc.constantFrom<Method>('get', 'delete', 'post'),
          pathSegment(fc.constant(templateId)),
          dtoBody({ variables: hostileObjectJson() }),
        ),
        ([method, id, json]) =>
          method === 'post'
            ? { method, path: `/api/v1/templates/${id}/preview`, json }
            : { method, path: `/api/v1/templates/${id}` },
      );
    });

    it('GET list: 200 or a 4xx for any query', async () => {
      await fuzz(
        queryString({
          active: fc.constantFrom('true', 'false', 'all'),
          limit: fc.integer({ min: -5, max: 200 }).map(String),
          cursor: fc.string({ maxLength: 70 }),
        }),
        (q) => ({ method: 'get', path: `/api/v1/templates?${q}` }),
      );
    });
  });

  describe('blacklist', () => {
    it('POST: a stored entry is then reported blocked, or a 4xx', async () => {
      let stored = 0;
      await fuzz(
        dtoBody(
          {
            email: address.map((a) => JSON.stringify(`  ${a.toUpperCase()} `)),
            reason: jsonOf(
              'manual',
              'hard_bounce',
              'complaint',
              'fbl',
              'spam_trap',
              'unsubscribe',
              'nope',
            ),
            details: fc
              .string({ unit: 'binary', maxLength: 60 })
              .map((s) => JSON.stringify(storable(s))),
            expires_in: fc.integer({ min: 60, max: 100_000_000 }).map(String),
            source: oneLine(20),
          },
          { required: ['email'] },
        ),
        (json) => ({ method: 'post', path: '/api/v1/blacklist', json }),
        async (res) => {
          if (res.status >= 300) return;
          stored++;
          const check = await call({
            method: 'get',
            path: `/api/v1/blacklist/check?email=${encodeComponent(res.body.email)}`,
          });
          expectApiAnswer(check, [200]);
          expect(check.body.blocked).toBe(true);
        },
      );
      expect(stored).toBeGreaterThan(0);
    });

    it('check, list and DELETE: a 2xx or a 4xx for any query or address', async () => {
      await fuzz(
        fc.oneof(
          queryString({ email: address }).map((q) => `/api/v1/blacklist/check?${q}`),
          queryString({
            reason: fc.constantFrom('manual', 'complaint'),
            limit: fc.integer({ min: -5, max: 900 }).map(String),
            cursor: fc.string({ maxLength: 250 }),
          }).map((q) => `/api/v1/blacklist?${q}`),
          pathSegment(address).map((s) => `DELETE /api/v1/blacklist/${s}`),
        ),
        (path) =>
          path.startsWith('DELETE ')
            ? { method: 'delete', path: path.slice('DELETE '.length) }
            : { method: 'get', path },
      );
    });
  });

  describe('rate control', () => {
    it('pause, resume and reset: a 2xx or a 4xx for any domain', async () => {
      const domain = fc.oneof(fc.domain(), fc.constantFrom('Gmail.COM', ' yahoo.com '));
      await fuzz(
        fc.tuple(
          fc.constantFrom('pause', 'resume', 'reset', 'list'),
          dtoBody({ domain: domain.map((d) => JSON.stringify(d)) }),
          pathSegment(domain),
        ),
        ([action, json, segment]) => {
          if (action === 'list') return { method: 'get', path: '/api/v1/rate-control' };
          if (action === 'reset')
            return { method: 'post', path: `/api/v1/rate-control/${segment}/reset` };
          return { method: 'post', path: `/api/v1/rate-control/${action}`, json };
        },
      );
      // Leave all sending resumed for whoever shares nothing with this app anyway.
      expectApiAnswer(
        await call({ method: 'post', path: '/api/v1/rate-control/resume', json: '{}' }),
        [200],
      );
    });
  });

  describe('reports', () => {
    it('list, get, acknowledge and resolve: a 2xx or a 4xx for any id, query and body', async () => {
      await fuzz(
        fc.tuple(
          fc.constantFrom('list', 'get', 'acknowledge', 'resolve'),
          pathSegment(fc.constantFrom(String(reportId), '0', '99999999999', '-1', '1e3', '0x1')),
          queryString({
            status: fc.constantFrom('pending', 'resolved'),
            severity: fc.constantFrom('warning', 'critical'),
            report_type: fc.constantFrom('manual', 'anomaly'),
            limit: fc.integer({ min: -1, max: 200 }).map(String),
            cursor: fc.oneof(fc.nat().map(String), fc.string({ maxLength: 12 })),
          }),
          dtoBody({
            notes: fc.string({ unit: 'binary', maxLength: 100 }).map((s) => JSON.stringify(s)),
          }),
        ),
        ([action, id, q, json]): Call => {
          if (action === 'list') return { method: 'get', path: `/api/v1/reports?${q}` };
          if (action === 'get') return { method: 'get', path: `/api/v1/reports/${id}` };
          return { method: 'post', path: `/api/v1/reports/${id}/${action}`, json };
        },
      );
    });
  });

  describe('queries and lookups', () => {
    const isoTime = fc
      .date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('2100-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());

    it('GET /api/v1/stats: 200 or a 4xx for any query', async () => {
      await fuzz(
        queryString({
          from: fc.oneof(
            isoTime,
            isoTime.map((s) => s.slice(0, 10)),
          ),
          to: isoTime,
          domain: fc.domain(),
          campaign_id: fc.string({ maxLength: 20 }),
          granularity: fc.constantFrom('hour', 'day'),
        }),
        (q) => ({ method: 'get', path: `/api/v1/stats?${q}` }),
      );
    });

    it('GET /api/v1/messages: 200 or a 4xx for any query', async () => {
      await fuzz(
        queryString({
          status: fc.constantFrom('queued', 'sent', 'bounced'),
          recipient: address,
          campaign_id: fc.string({ maxLength: 20 }),
          domain: fc.domain(),
          batch_id: fc.uuid(),
          from: isoTime,
          to: isoTime,
          limit: fc.integer({ min: -1, max: 600 }).map(String),
          cursor: fc.string({ maxLength: 70 }),
        }),
        (q) => ({ method: 'get', path: `/api/v1/messages?${q}` }),
        undefined,
        RUNS,
        ['recipient=a%00b', 'campaign_id=%00'],
      );
    });

    it('GET status and batch progress: 200 or a 4xx for any id', async () => {
      await fuzz(
        fc.tuple(fc.constantFrom('status', 'batches'), pathSegment(fc.uuid())),
        ([route, id]) => ({ method: 'get', path: `/api/v1/${route}/${id}` }),
      );
    });

    it('POST /api/v1/complaints: 200 or a 4xx for any body', async () => {
      await fuzz(
        dtoBody({
          message_id: fc.uuid().map((u) => JSON.stringify(u)),
          email: address.map((a) => JSON.stringify(a)),
          source: oneLine(20),
        }),
        (json) => ({ method: 'post', path: '/api/v1/complaints', json }),
        undefined,
        RUNS,
        // Found by fuzzing: U+0000 reached PostgreSQL and came back as a 500.
        ['{"email":"f-00000000@fuzz.example","source":"\\u0000"}'],
      );
    });
  });

  describe('any route', () => {
    const ROUTES: Array<[Method, string]> = [
      ['post', '/api/v1/send'],
      ['post', '/api/v1/batch'],
      ['post', '/api/v1/templates'],
      ['put', '/api/v1/templates/x'],
      ['post', '/api/v1/templates/x/preview'],
      ['post', '/api/v1/blacklist'],
      ['post', '/api/v1/rate-control/pause'],
      ['post', '/api/v1/rate-control/resume'],
      ['post', '/api/v1/reports/1/resolve'],
      ['post', '/api/v1/complaints'],
    ];

    it('answers malformed bodies and wrong content types with a 4xx in the error shape', async () => {
      await fuzz(
        fc.tuple(fc.constantFrom(...ROUTES), malformedBody()),
        ([[method, path], raw]) => ({ method, path, raw }),
        undefined,
        80,
      );
    });

    it('answers any method on any route with a 2xx or a 4xx', async () => {
      await fuzz(
        fc.tuple(
          fc.constantFrom<Method>('get', 'post', 'put', 'patch', 'delete'),
          fc.constantFrom(
            ...ROUTES.map(([, p]) => p),
            '/api/v1/stats',
            '/api/v1/nope',
            '/api/v2/send',
          ),
        ),
        ([method, path]) => ({ method, path, json: '{}' }),
      );
    });

    it('answers any Authorization header with 401 in the error shape', async () => {
      const headerValue = fc
        .oneof(
          fc.string({ unit: 'binary-ascii', maxLength: 80 }),
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'bearer esk_',
            'Basic YTpi',
            'Bearer esk_' + 'A'.repeat(40),
          ),
          fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
        )
        .filter((v) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v));
      await fc.assert(
        fc.asyncProperty(headerValue, async (value) => {
          const res = await request(base).post('/api/v1/send').set('Authorization', value).send({});
          expectApiAnswer(res);
          expect([401, 403]).toContain(res.status);
        }),
        { numRuns: RUNS },
      );
    });
  });
});
