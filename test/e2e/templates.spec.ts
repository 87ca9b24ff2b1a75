import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { TemplateInvalidError } from 'src/common/errors/app-error';
import { httpStatusOf } from 'src/common/http/error-status';
import { loadConfig } from 'src/config/app-config';
import { createHttpApp } from 'src/create-app';
import { TemplateRenderError } from 'src/modules/templates/template-renderer';
import { FIND_ACTIVE_TTL_MS, TemplatesService } from 'src/modules/templates/templates.service';
import { bootTestApp, testEnv, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

/** Many requests from one IP, some without a key: keep the abuse limits out of the way. */
const ENV = { RATE_LIMIT_IP_PER_MIN: '100000', AUTH_BAN_MAX_FAILURES: '100000' };

let seq = 0;
const uniqueId = (label = 'tpl'): string => `${label}-${Date.now().toString(36)}-${++seq}`;

const errorBody = (code: string, message: unknown = expect.any(String)) => ({
  error: expect.objectContaining({ code, message }),
  request_id: expect.any(String),
});

describe('Templates API (e2e)', () => {
  let t: TestApp;
  let key: string;
  let templates: TemplatesService;

  beforeAll(async () => {
    t = await bootTestApp(ENV);
    key = await t.createKey('full');
    templates = t.app.get(TemplatesService);
  });
  afterAll(() => t?.close());

  const auth = (r: request.Test): request.Test => r.set('Authorization', `Bearer ${key}`);
  const post = (path: string, body: unknown) =>
    auth(request(t.server).post(path)).send(body as object);
  const put = (path: string, body: unknown) =>
    auth(request(t.server).put(path)).send(body as object);
  const get = (path: string) => auth(request(t.server).get(path));
  const del = (path: string) => auth(request(t.server).delete(path));

  async function createTemplate(overrides: Record<string, unknown> = {}) {
    const body = {
      external_id: uniqueId(),
      name: 'Welcome',
      subject: 'Hi {{name}}',
      html_content: '<p>Hello {{name}}</p>',
      ...overrides,
    };
    const res = await post('/api/v1/templates', body).expect(201);
    return { body, created: res.body as { id: number; external_id: string } };
  }

  describe('POST /api/v1/templates', () => {
    it('creates a template and answers 201 with id, external_id, name and created_at', async () => {
      const externalId = uniqueId('welcome');
      const res = await post('/api/v1/templates', {
        external_id: externalId,
        name: 'Welcome mail',
        subject: 'Welcome, {{first_name}}!',
        html_content: '<p>Hello {{first_name}}</p>',
        plain_content: 'Hello {{first_name}}',
        variables: ['first_name'],
      }).expect(201);
      expect(res.body).toEqual({
        id: expect.any(Number),
        external_id: externalId,
        name: 'Welcome mail',
        created_at: expect.any(String),
      });
      expect(Date.parse(res.body.created_at)).toBeGreaterThan(Date.now() - 60_000);

      const stored = await get(`/api/v1/templates/${externalId}`).expect(200);
      expect(stored.body).toEqual({
        id: res.body.id,
        external_id: externalId,
        name: 'Welcome mail',
        subject: 'Welcome, {{first_name}}!',
        html_content: '<p>Hello {{first_name}}</p>',
        plain_content: 'Hello {{first_name}}',
        variables: ['first_name'],
        stream: null,
        active: true,
        created_at: res.body.created_at,
        updated_at: expect.any(String),
      });
    });

    it('accepts a text-only template and stores variables as [] when absent', async () => {
      const { body } = await createTemplate({ html_content: undefined, plain_content: 'Hi' });
      const stored = await get(`/api/v1/templates/${body.external_id}`).expect(200);
      expect(stored.body).toMatchObject({ html_content: null, plain_content: 'Hi', variables: [] });
    });

    it('answers 422 template_invalid with the parser message and line for broken HTML', async () => {
      const externalId = uniqueId();
      const res = await post('/api/v1/templates', {
        external_id: externalId,
        name: 'Broken',
        subject: 'Hi',
        html_content: '<p>one</p>\n<p>two</p>\n<p>{{#if}}</p>',
      }).expect(422);
      expect(res.body).toEqual(errorBody('template_invalid', expect.stringMatching(/line 3/)));
      expect(res.body.error.message).toMatch(
        /^html_content does not compile at line 3: Parse error/,
      );
      expect(res.body.error.details).toEqual([
        {
          field: 'html_content',
          message: expect.stringMatching(/^Parse error on line 3/),
          line: 3,
          column: null,
        },
      ]);
      await get(`/api/v1/templates/${externalId}`).expect(404);
    });

    it.each([
      ['subject', { subject: 'Hi {{#each items}}' }, 1],
      ['plain_content', { plain_content: 'a\n{{#each x}}{{/if}}' }, 2],
      ['html_content', { html_content: '{{name' }, 1],
    ])('names %s when that part does not compile', async (field, parts, line) => {
      const res = await post('/api/v1/templates', {
        external_id: uniqueId(),
        name: 'Broken',
        subject: 'Hi',
        html_content: '<p>x</p>',
        ...parts,
      }).expect(422);
      expect(res.body.error.code).toBe('template_invalid');
      expect(res.body.error.details).toEqual([
        expect.objectContaining({ field, line, message: expect.any(String) }),
      ]);
      expect(res.body.error.message).toContain(`line ${line}`);
    });

    it('answers 400 validation_error naming external_id when it is taken', async () => {
      const { body } = await createTemplate();
      const res = await post('/api/v1/templates', { ...body, name: 'Other' }).expect(400);
      expect(res.body).toEqual({
        error: {
          code: 'validation_error',
          message: expect.any(String),
          details: [{ field: 'external_id', message: 'has already been taken' }],
        },
        request_id: res.headers['x-request-id'],
      });
    });

    it('lets exactly one of several concurrent creates with one external_id win', async () => {
      const externalId = uniqueId('race');
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          post('/api/v1/templates', {
            external_id: externalId,
            name: `Racer ${i}`,
            subject: 'Hi',
            plain_content: 'Hi',
          }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 400, 400, 400, 400, 400]);
      for (const r of results.filter((x) => x.status === 400)) {
        expect(r.body.error).toMatchObject({
          code: 'validation_error',
          details: [{ field: 'external_id', message: 'has already been taken' }],
        });
      }
    });

    it.each(['external_id', 'name', 'subject'])(
      'answers 400 validation_error naming %s when it is missing',
      async (field) => {
        const body: Record<string, unknown> = {
          external_id: uniqueId(),
          name: 'N',
          subject: 'S',
          html_content: '<p>x</p>',
        };
        delete body[field];
        const res = await post('/api/v1/templates', body).expect(400);
        expect(res.body.error).toEqual({
          code: 'validation_error',
          message: `${field} is required`,
          details: [{ field, message: `${field} is required` }],
        });
      },
    );

    it('answers 400 validation_error when neither html_content nor plain_content is given', async () => {
      const res = await post('/api/v1/templates', {
        external_id: uniqueId(),
        name: 'N',
        subject: 'S',
        html_content: '',
      }).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([
        'html_content',
        'plain_content',
      ]);
    });

    it.each([
      ['external_id', { external_id: 'has space' }],
      ['external_id', { external_id: 'x'.repeat(65) }],
      ['external_id', { external_id: '' }],
      ['name', { name: '' }],
      ['name', { name: 'n'.repeat(256) }],
      ['name', { name: 42 }],
      ['subject', { subject: '' }],
      ['subject', { subject: ['Hi'] }],
      ['html_content', { html_content: { a: 1 } }],
      ['variables', { variables: 'first_name' }],
      ['variables', { variables: [1, 2] }],
      ['variables', { variables: ['bad name'] }],
    ])('answers 400 validation_error naming %s for %j', async (field, bad) => {
      const res = await post('/api/v1/templates', {
        external_id: uniqueId(),
        name: 'N',
        subject: 'S',
        html_content: '<p>x</p>',
        ...bad,
      }).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    });

    it('rejects unknown properties', async () => {
      const res = await post('/api/v1/templates', {
        external_id: uniqueId(),
        name: 'N',
        subject: 'S',
        html_content: '<p>x</p>',
        owner: 'me',
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'validation_error',
        details: [{ field: 'owner', message: 'property owner should not exist' }],
      });
    });

    it('answers 400 validation_error for malformed JSON', async () => {
      const res = await auth(request(t.server).post('/api/v1/templates'))
        .set('Content-Type', 'application/json')
        .send('{"external_id": "x",')
        .expect(400);
      expect(res.body).toEqual(errorBody('validation_error', 'Malformed JSON in request body'));
    });

    it.each([
      ['a JSON array', '[]'],
      ['a JSON array of objects', '[{"external_id":"x"}]'],
    ])('answers 4xx in the error shape for %s', async (_label, raw) => {
      const res = await auth(request(t.server).post('/api/v1/templates'))
        .set('Content-Type', 'application/json')
        .send(raw);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error.code).toBe('validation_error');
    });

    it('answers 415 unsupported_media_type for a body that is not JSON', async () => {
      const res = await auth(request(t.server).post('/api/v1/templates'))
        .set('Content-Type', 'text/plain')
        .send('hello');
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('unsupported_media_type');
    });
  });

  describe('GET /api/v1/templates', () => {
    let ids: string[];
    let inactive: string;

    beforeAll(async () => {
      // Its own database's rows only: list everything created so far, then add four more.
      ids = [];
      for (let i = 0; i < 4; i += 1) ids.push((await createTemplate()).body.external_id);
      inactive = (await createTemplate()).body.external_id;
      await del(`/api/v1/templates/${inactive}`).expect(200);
    });

    async function listAll(query: string): Promise<Array<Record<string, unknown>>> {
      const all: Array<Record<string, unknown>> = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page += 1) {
        const res: request.Response = await get(
          `/api/v1/templates?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        ).expect(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        all.push(...res.body.data);
        cursor = res.body.next_cursor;
        if (!cursor) return all;
      }
      throw new Error('pagination did not end');
    }

    it('lists active templates newest first, without bodies', async () => {
      const res = await get('/api/v1/templates').expect(200);
      expect(res.body.next_cursor).toBeNull();
      const externalIds = res.body.data.map((d: { external_id: string }) => d.external_id);
      expect(externalIds.slice(0, 4)).toEqual([...ids].reverse());
      expect(externalIds).not.toContain(inactive);
      expect(res.body.data[0]).toEqual({
        id: expect.any(Number),
        external_id: ids[3],
        name: 'Welcome',
        subject: 'Hi {{name}}',
        variables: [],
        stream: null,
        active: true,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
    });

    it('pages with limit and next_cursor, visiting every template once', async () => {
      const first = await get('/api/v1/templates?limit=2').expect(200);
      expect(first.body.data).toHaveLength(2);
      expect(first.body.next_cursor).toEqual(expect.any(String));

      const all = await listAll('limit=2');
      const seen = all.map((d) => d.external_id);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(ids));
      const numericIds = all.map((d) => d.id as number);
      expect(numericIds).toEqual([...numericIds].sort((a, b) => b - a));
    });

    it('filters by active=false and includes both with active=all', async () => {
      const off = await get('/api/v1/templates?active=false').expect(200);
      expect(off.body.data.map((d: { external_id: string }) => d.external_id)).toContain(inactive);
      expect(off.body.data.every((d: { active: boolean }) => d.active === false)).toBe(true);

      const all = await listAll('active=all&limit=2');
      expect(all.map((d) => d.external_id)).toEqual(expect.arrayContaining([...ids, inactive]));
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['active=maybe', 'active'],
      ['cursor=%%%', 'cursor'],
      ['cursor=MDE', 'cursor'],
      ['cursor=LTE', 'cursor'],
      ['unknown=1', 'unknown'],
    ])('answers 400 validation_error for ?%s', async (query, field) => {
      const res = await get(`/api/v1/templates?${query}`).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    });
  });

  describe('GET /api/v1/templates/:external_id', () => {
    it.each([
      ['an unknown id', 'does-not-exist'],
      ['an id with forbidden characters', 'a b'],
      ['an over-long id', 'x'.repeat(300)],
      ['SQL-looking junk', "1' OR '1'='1"],
    ])('answers 404 template_not_found for %s', async (_label, id) => {
      const res = await get(`/api/v1/templates/${encodeURIComponent(id)}`).expect(404);
      expect(res.body).toEqual(errorBody('template_not_found'));
    });
  });

  describe('PUT /api/v1/templates/:external_id', () => {
    it('updates only the given fields, bumps updated_at and returns the template', async () => {
      const { body } = await createTemplate({ plain_content: 'Hello {{name}}' });
      const before = (await get(`/api/v1/templates/${body.external_id}`).expect(200)).body;

      const res = await put(`/api/v1/templates/${body.external_id}`, {
        subject: 'New {{name}}',
        variables: ['name'],
      }).expect(200);
      expect(res.body).toEqual({
        ...before,
        subject: 'New {{name}}',
        variables: ['name'],
        updated_at: expect.any(String),
      });
      expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
      await expect(get(`/api/v1/templates/${body.external_id}`)).resolves.toMatchObject({
        body: res.body,
      });
    });

    it('removes a part when it is set to null', async () => {
      const { body } = await createTemplate({ plain_content: 'Hello' });
      const res = await put(`/api/v1/templates/${body.external_id}`, {
        html_content: null,
      }).expect(200);
      expect(res.body).toMatchObject({ html_content: null, plain_content: 'Hello' });
    });

    it('answers 400 validation_error and changes nothing when no part would remain', async () => {
      const { body } = await createTemplate();
      const res = await put(`/api/v1/templates/${body.external_id}`, {
        html_content: null,
      }).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      const stored = await get(`/api/v1/templates/${body.external_id}`).expect(200);
      expect(stored.body.html_content).toBe(body.html_content);
    });

    it('answers 422 template_invalid with the line and changes nothing', async () => {
      const { body } = await createTemplate();
      const res = await put(`/api/v1/templates/${body.external_id}`, {
        subject: 'fine',
        html_content: '<p>\n{{#each items}}\n</p>',
      }).expect(422);
      expect(res.body.error.code).toBe('template_invalid');
      expect(res.body.error.details).toEqual([
        expect.objectContaining({ field: 'html_content', line: expect.any(Number) }),
      ]);
      const stored = await get(`/api/v1/templates/${body.external_id}`).expect(200);
      expect(stored.body).toMatchObject({ subject: body.subject, html_content: body.html_content });
    });

    it.each([
      ['external_id', { external_id: 'renamed' }],
      ['subject', { subject: null }],
      ['name', { name: null }],
      ['active', { active: 'yes' }],
      ['variables', { variables: null }],
    ])('answers 400 validation_error naming %s for %j', async (field, bad) => {
      const { body } = await createTemplate();
      const res = await put(`/api/v1/templates/${body.external_id}`, bad).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details).toEqual([expect.objectContaining({ field })]);
    });

    it('answers 404 template_not_found for an unknown template', async () => {
      const res = await put('/api/v1/templates/nope-nope', { name: 'x' }).expect(404);
      expect(res.body.error.code).toBe('template_not_found');
    });

    it('reactivates a deactivated template with active: true', async () => {
      const { body } = await createTemplate();
      await del(`/api/v1/templates/${body.external_id}`).expect(200);
      await expect(templates.findActive(body.external_id)).resolves.toBeNull();
      await put(`/api/v1/templates/${body.external_id}`, { active: true }).expect(200);
      await expect(templates.findActive(body.external_id)).resolves.toMatchObject({
        externalId: body.external_id,
      });
    });
  });

  describe('DELETE /api/v1/templates/:external_id', () => {
    it('deactivates: 200 with the template, still readable, no longer usable', async () => {
      const { body, created } = await createTemplate();
      await expect(templates.findActive(body.external_id)).resolves.toMatchObject({
        id: created.id,
      });

      const res = await del(`/api/v1/templates/${body.external_id}`).expect(200);
      expect(res.body).toMatchObject({ external_id: body.external_id, active: false });
      await expect(templates.findActive(body.external_id)).resolves.toBeNull();
      const stored = await get(`/api/v1/templates/${body.external_id}`).expect(200);
      expect(stored.body.active).toBe(false);

      // Idempotent.
      await del(`/api/v1/templates/${body.external_id}`).expect(200);
    });

    it('answers 404 template_not_found for an unknown template', async () => {
      const res = await del('/api/v1/templates/nope-nope').expect(404);
      expect(res.body.error.code).toBe('template_not_found');
    });
  });

  describe('POST /api/v1/templates/:external_id/preview', () => {
    it('escapes variables in the HTML only; the subject and text get them raw', async () => {
      const { body } = await createTemplate({
        subject: 'Hi {{name}}',
        html_content: '<p>Hello {{name}}</p>',
        plain_content: 'Hello {{name}}',
      });
      const res = await post(`/api/v1/templates/${body.external_id}/preview`, {
        variables: { name: '<b>Ann</b> & "Bo"' },
      }).expect(200);
      expect(res.body).toEqual({
        subject: 'Hi <b>Ann</b> & "Bo"',
        html: '<p>Hello &lt;b&gt;Ann&lt;/b&gt; &amp; &quot;Bo&quot;</p>',
        text: 'Hello <b>Ann</b> & "Bo"',
      });
    });

    it('leaves triple-stash values unescaped in the HTML', async () => {
      const { body } = await createTemplate({ html_content: '<div>{{{banner}}}</div>' });
      const res = await post(`/api/v1/templates/${body.external_id}/preview`, {
        variables: { banner: '<b>Sale</b>' },
      }).expect(200);
      expect(res.body.html).toBe('<div><b>Sale</b></div>');
    });

    it('derives the text part from the HTML when plain_content is missing', async () => {
      const { body } = await createTemplate({
        html_content: '<h1>Hello {{name}}</h1><p>See <a href="https://x.example/a">offer</a></p>',
      });
      const res = await post(`/api/v1/templates/${body.external_id}/preview`, {
        variables: { name: 'Ann' },
      }).expect(200);
      expect(res.body.text).toContain('HELLO ANN');
      expect(res.body.text).toContain('offer [https://x.example/a]');
      expect(res.body.text).not.toContain('<');
    });

    it('fills the built-in variables with samples unless they are given', async () => {
      const { body } = await createTemplate({
        html_content: undefined,
        plain_content: '{{message_id}}|{{recipient}}|{{unsubscribe_url}}|{{campaign_id}}',
      });
      const sample = await post(`/api/v1/templates/${body.external_id}/preview`, {}).expect(200);
      const [messageId, recipient, unsubscribeUrl, campaignId] = sample.body.text.split('|');
      expect(messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(recipient).toBe('recipient@example.com');
      expect(unsubscribeUrl).toBe(`${t.config.publicUrl}/unsubscribe/preview`);
      expect(campaignId).toBe('');

      const given = await post(`/api/v1/templates/${body.external_id}/preview`, {
        variables: { recipient: 'ann@example.com', campaign_id: 'spring' },
      }).expect(200);
      expect(given.body.text).toMatch(/\|ann@example\.com\|.*\|spring$/);
    });

    it('answers 422 template_invalid when rendering fails', async () => {
      const { body } = await createTemplate({ html_content: '<p>{{shout name}}</p>' });
      const res = await post(`/api/v1/templates/${body.external_id}/preview`, {
        variables: { name: 'x' },
      }).expect(422);
      expect(res.body.error).toMatchObject({
        code: 'template_invalid',
        message: expect.stringContaining('Missing helper: "shout"'),
        details: [expect.objectContaining({ field: 'html_content' })],
      });
    });

    it('does not reach prototype properties through variables', async () => {
      const { body } = await createTemplate({
        html_content: undefined,
        plain_content: '[{{constructor.name}}][{{__proto__.polluted}}]',
      });
      const res = await auth(
        request(t.server).post(`/api/v1/templates/${body.external_id}/preview`),
      )
        .set('Content-Type', 'application/json')
        .send('{"variables": {"__proto__": {"polluted": "yes"}}}')
        .expect(200);
      expect(res.body.text).toBe('[][]');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('previews a deactivated template', async () => {
      const { body } = await createTemplate();
      await del(`/api/v1/templates/${body.external_id}`).expect(200);
      await post(`/api/v1/templates/${body.external_id}/preview`, {}).expect(200);
    });

    it.each([
      ['a string', { variables: 'x' }],
      ['an array', { variables: [1] }],
      ['an unknown property', { vars: {} }],
    ])('answers 400 validation_error when variables is %s', async (_label, bad) => {
      const { body } = await createTemplate();
      const res = await post(`/api/v1/templates/${body.external_id}/preview`, bad).expect(400);
      expect(res.body.error.code).toBe('validation_error');
    });

    it('answers 404 template_not_found for an unknown template', async () => {
      const res = await post('/api/v1/templates/nope-nope/preview', {}).expect(404);
      expect(res.body.error.code).toBe('template_not_found');
    });
  });

  describe('authorization', () => {
    const routes: Array<[string, string]> = [
      ['post', '/api/v1/templates'],
      ['get', '/api/v1/templates'],
      ['get', '/api/v1/templates/any'],
      ['put', '/api/v1/templates/any'],
      ['delete', '/api/v1/templates/any'],
      ['post', '/api/v1/templates/any/preview'],
    ];

    it.each(routes)('%s %s answers 403 forbidden to a send-scoped key', async (method, path) => {
      const sendKey = await t.createKey('send');
      const res = await (request(t.server) as any)
        [method](path)
        .set('Authorization', `Bearer ${sendKey}`)
        .send({});
      expect(res.status).toBe(403);
      expect(res.body).toEqual(errorBody('forbidden'));
    });

    it.each(routes)('%s %s answers 401 unauthorized without a key', async (method, path) => {
      const res = await (request(t.server) as any)[method](path).send({});
      expect(res.status).toBe(401);
      expect(res.body).toEqual(errorBody('unauthorized'));
    });
  });

  describe('GET /docs-json', () => {
    it('documents every template route with its body and the variables format', async () => {
      const res = await request(t.server).get('/docs-json').expect(200);
      const paths = res.body.paths;
      expect(Object.keys(paths['/api/v1/templates']).sort()).toEqual(['get', 'post']);
      expect(Object.keys(paths['/api/v1/templates/{external_id}']).sort()).toEqual([
        'delete',
        'get',
        'put',
      ]);
      expect(paths['/api/v1/templates/{external_id}/preview'].post).toBeDefined();
      expect(
        paths['/api/v1/templates'].post.requestBody.content['application/json'].schema.$ref,
      ).toMatch(/TemplateCreateDto$/);
      expect(
        paths['/api/v1/templates/{external_id}'].put.requestBody.content['application/json'].schema
          .$ref,
      ).toMatch(/TemplateUpdateDto$/);
      const create = res.body.components.schemas.TemplateCreateDto;
      expect(create.required).toEqual(expect.arrayContaining(['external_id', 'name', 'subject']));
      expect(create.properties.variables).toMatchObject({
        type: 'array',
        items: { type: 'string' },
      });
    });
  });

  describe(TemplatesService.name, () => {
    describe('findActive', () => {
      it('returns the template as sending needs it', async () => {
        const { body, created } = await createTemplate({ plain_content: 'T' });
        await expect(templates.findActive(body.external_id)).resolves.toEqual({
          id: created.id,
          externalId: body.external_id,
          subject: body.subject,
          html: body.html_content,
          text: 'T',
          stream: null,
          updatedAt: expect.any(Date),
        });
      });

      it.each(['unknown-template', '', 'a b', 'x'.repeat(65)])(
        'returns null for %j',
        async (id) => {
          await expect(templates.findActive(id)).resolves.toBeNull();
        },
      );
    });

    describe('getForRender', () => {
      it('returns a template by id, deactivated or not, and null for an unknown id', async () => {
        const { body, created } = await createTemplate();
        await del(`/api/v1/templates/${body.external_id}`).expect(200);
        await expect(templates.getForRender(created.id)).resolves.toMatchObject({
          id: created.id,
          externalId: body.external_id,
          subject: body.subject,
        });
        await expect(templates.getForRender(2_000_000_000)).resolves.toBeNull();
      });

      it('sees an update made right after a cached lookup', async () => {
        const { body, created } = await createTemplate({ subject: 'one' });
        await expect(templates.getForRender(created.id)).resolves.toMatchObject({
          subject: 'one',
        });
        await put(`/api/v1/templates/${body.external_id}`, { subject: 'two' }).expect(200);
        await expect(templates.getForRender(created.id)).resolves.toMatchObject({
          subject: 'two',
        });
      });
    });

    describe('upsertInline', () => {
      const src = { subject: 'Inline {{x}}', html: '<p>{{x}}</p>', text: null };

      it('stores equal content once and renders it by id', async () => {
        const id = await templates.upsertInline(src);
        const again = await Promise.all([templates.upsertInline(src), templates.upsertInline(src)]);
        expect(again).toEqual([id, id]);
        await expect(templates.upsertInline({ ...src, text: 'other' })).resolves.not.toBe(id);

        const stored = (await templates.getForRender(id))!;
        expect(await templates.render(stored, { x: '<y>' })).toEqual({
          subject: 'Inline <y>',
          html: '<p>&lt;y&gt;</p>',
          text: '<y>',
        });
      });

      it('keeps inline rows out of the templates API and out of findActive', async () => {
        const id = await templates.upsertInline({ subject: 'Hidden', html: null, text: 'hidden' });
        const stored = (await templates.getForRender(id))!;
        expect(stored.externalId).toMatch(/^inline:[0-9a-f]{56}$/);
        await expect(templates.findActive(stored.externalId)).resolves.toBeNull();
        await get(`/api/v1/templates/${encodeURIComponent(stored.externalId)}`).expect(404);
        for (const active of ['true', 'false', 'all']) {
          const res = await get(`/api/v1/templates?active=${active}&limit=100`).expect(200);
          expect(res.body.data.map((d: { id: number }) => d.id)).not.toContain(id);
        }
      });
    });

    describe('render', () => {
      it('renders the updated template right after an update in the same process', async () => {
        const { body } = await createTemplate({ subject: 'v1 {{name}}' });
        const v1 = (await templates.findActive(body.external_id))!;
        expect((await templates.render(v1, { name: 'A' })).subject).toBe('v1 A');

        await put(`/api/v1/templates/${body.external_id}`, { subject: 'v2 {{name}}' }).expect(200);
        const v2 = (await templates.findActive(body.external_id))!;
        expect(v2.updatedAt.getTime()).not.toBe(v1.updatedAt.getTime());
        expect((await templates.render(v2, { name: 'A' })).subject).toBe('v2 A');
      });

      it('moves updated_at (the cache key) forward on every write, even past a clock skew', async () => {
        const { body, created } = await createTemplate();
        // As if the last write came from a database clock ahead of this one, or in this ms.
        const ahead = new Date(Date.now() + 3_600_000);
        await t.dataSource.query('UPDATE email_templates SET updated_at = $1 WHERE id = $2', [
          ahead,
          created.id,
        ]);
        const stamps = [ahead.getTime()];
        for (let i = 0; i < 3; i += 1) {
          const res = await put(`/api/v1/templates/${body.external_id}`, { name: `n${i}` });
          stamps.push(Date.parse(res.body.updated_at));
        }
        const deactivated = await del(`/api/v1/templates/${body.external_id}`).expect(200);
        stamps.push(Date.parse(deactivated.body.updated_at));
        for (let i = 1; i < stamps.length; i += 1) {
          expect(stamps[i]).toBeGreaterThan(stamps[i - 1]);
        }
      });

      it('throws TemplateRenderError for a render failure', async () => {
        const { body } = await createTemplate({
          html_content: '{{#missing}}x{{/missing}}{{nope 1}}',
        });
        const resolved = (await templates.findActive(body.external_id))!;
        await expect(templates.render(resolved, {})).rejects.toThrow(TemplateRenderError);
      });
    });

    describe('renderInline', () => {
      it('renders inline content, escaping only the HTML', async () => {
        expect(
          await templates.renderInline(
            { subject: 'S {{x}}', html: '<i>{{x}}</i>', text: null },
            { x: '<&>' },
          ),
        ).toEqual({ subject: 'S <&>', html: '<i>&lt;&amp;&gt;</i>', text: '<&>' });
      });

      it('throws TemplateRenderError (not a compile error) for content that does not compile', async () => {
        await expect(templates.renderInline({ subject: 'S', html: '{{#if}}' }, {})).rejects.toThrow(
          TemplateRenderError,
        );
      });
    });

    describe('assertCompiles', () => {
      it('throws TemplateInvalidError naming the inline field and line', async () => {
        let error: unknown;
        try {
          await templates.assertCompiles({ subject: 'ok', html: 'a\nb\n{{#if}}', text: 'ok' });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(TemplateInvalidError);
        // Domain errors carry a code; the edge maps it to 422 (src/common/http/error-status.ts).
        expect(httpStatusOf(error as TemplateInvalidError)).toBe(422);
        expect(error).toMatchObject({
          code: 'template_invalid',
          details: [expect.objectContaining({ field: 'html', line: 3 })],
        });
      });

      it('accepts content that compiles', async () => {
        await expect(
          templates.assertCompiles({ subject: 'Hi {{a}}', html: '<p>{{{b}}}</p>', text: null }),
        ).resolves.toBeUndefined();
      });

      /**
       * The SHA-256 inputs that contain `marker` while `work` runs: the content digest of
       * templates.service.ts `inlineDigest` hashes the whole content (README "Security":
       * template limits — a field over a limit costs one scan, never a digest).
       */
      async function digestsOf(marker: string, work: () => Promise<unknown>): Promise<number> {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const crypto = require('node:crypto') as typeof import('node:crypto');
        const real = crypto.createHash;
        let seen = 0;
        const spy = jest.spyOn(crypto, 'createHash').mockImplementation((...args) => {
          const hash = real(...args);
          const update = hash.update.bind(hash);
          hash.update = ((data: string | Buffer, ...rest: unknown[]) => {
            if (String(data).includes(marker)) seen += 1;
            return (update as (...a: unknown[]) => typeof hash)(data, ...rest);
          }) as typeof hash.update;
          return hash;
        });
        try {
          await work().catch(() => undefined);
        } finally {
          spy.mockRestore();
        }
        return seen;
      }

      it.each([
        [
          'over TEMPLATE_MAX_FIELD_BYTES',
          (m: string) => m + 'x'.repeat(t.config.templates.maxFieldBytes),
        ],
        [
          'over TEMPLATE_MAX_MUSTACHES',
          (m: string) => m + '{{a}}'.repeat(t.config.templates.maxMustaches + 1),
        ],
      ])('refuses content %s without hashing it', async (_name, html) => {
        const marker = uniqueId('oversized');
        const src = { subject: 'S', html: html(marker), text: null };
        await expect(templates.assertCompiles(src)).rejects.toMatchObject({
          code: 'template_too_complex',
        });
        expect(await digestsOf(marker, () => templates.assertCompiles(src))).toBe(0);
        expect(await digestsOf(marker, () => templates.renderInline(src, {}))).toBe(0);
      });

      it('hashes accepted inline content once for the check and the stored row together', async () => {
        const marker = uniqueId('once');
        const src = { subject: 'S', html: `<p>${marker} {{a}}</p>`, text: null };
        const hashed = await digestsOf(marker, async () => {
          await templates.assertCompiles(src, [{ a: 1 }]);
          await templates.upsertInline(src);
        });
        expect(hashed).toBe(1);
      });
    });
  });
});

describe('Templates across processes (e2e)', () => {
  let first: TestApp;
  let second: NestExpressApplication;
  let key: string;

  beforeAll(async () => {
    first = await bootTestApp(ENV);
    key = await first.createKey('full');
    // A second process on the same database and Redis prefix.
    second = await createHttpApp(loadConfig(testEnv(first.db, first.config.redisKeyPrefix, ENV)));
    await second.init();
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  /** Polls well inside the lookup cache's TTL, so only the broadcast can make this pass. */
  async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + FIND_ACTIVE_TTL_MS / 3;
    let value = await read();
    while (!ok(value) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      value = await read();
    }
    return value;
  }

  it('sees a create, an update and a deactivation made by another process', async () => {
    const otherProcess = second.get(TemplatesService);
    const externalId = uniqueId('shared');
    const send = (r: request.Test) => r.set('Authorization', `Bearer ${key}`);

    // Cached as missing in the second process first.
    await expect(otherProcess.findActive(externalId)).resolves.toBeNull();
    await send(request(first.server).post('/api/v1/templates'))
      .send({ external_id: externalId, name: 'Shared', subject: 'v1 {{n}}', plain_content: 'x' })
      .expect(201);
    const created = await eventually(
      () => otherProcess.findActive(externalId),
      (v) => v !== null,
    );
    expect(created).not.toBeNull();
    expect((await otherProcess.render(created!, { n: 1 })).subject).toBe('v1 1');

    await send(request(first.server).put(`/api/v1/templates/${externalId}`))
      .send({ subject: 'v2 {{n}}' })
      .expect(200);
    const updated = await eventually(
      () => otherProcess.findActive(externalId),
      (v) => v?.subject === 'v2 {{n}}',
    );
    expect(updated?.subject).toBe('v2 {{n}}');
    expect((await otherProcess.render(updated!, { n: 1 })).subject).toBe('v2 1');

    // The by-id lookup the worker uses is cached too, and invalidated the same way.
    await expect(otherProcess.getForRender(created!.id)).resolves.toMatchObject({
      subject: 'v2 {{n}}',
    });
    await send(request(first.server).put(`/api/v1/templates/${externalId}`))
      .send({ subject: 'v3 {{n}}' })
      .expect(200);
    const byId = await eventually(
      () => otherProcess.getForRender(created!.id),
      (v) => v?.subject === 'v3 {{n}}',
    );
    expect(byId?.subject).toBe('v3 {{n}}');

    await send(request(first.server).delete(`/api/v1/templates/${externalId}`)).expect(200);
    await expect(
      eventually(
        () => otherProcess.findActive(externalId),
        (v) => v === null,
      ),
    ).resolves.toBeNull();
  });
});
