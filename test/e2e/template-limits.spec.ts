import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(90_000);

/**
 * Caller-supplied Handlebars is bounded (README "Security": template limits): the shapes of
 * issue 11's probe — loops nested over @root lists, 30,000 mustaches, an 820 KB template —
 * answer 422 template_too_complex at once, naming the limit; a render over its time budget
 * fails its own message while /health/live keeps answering.
 */

const ENV = { RATE_LIMIT_IP_PER_MIN: '100000', DEFAULT_FROM: 'Shop <news@shop.example>' };

const items = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** `{{#each @root.a}}` nested `depth` deep, around one mustache. */
const nestedEach = (depth: number): string =>
  '{{#each @root.a}}'.repeat(depth) + '{{@index}}' + '{{/each}}'.repeat(depth);

const tooComplex = (limit: string, field?: string) => ({
  error: expect.objectContaining({
    code: 'template_too_complex',
    message: expect.stringContaining(limit),
    details: [expect.objectContaining({ limit, ...(field ? { field } : {}) })],
  }),
  request_id: expect.any(String),
});

describe('Template limits at accept (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp(ENV);
    key = await t.createKey('full');
  });
  afterAll(() => t?.close());

  const post = (path: string, body: unknown) =>
    request(t.server)
      .post(path)
      .set('Authorization', `Bearer ${key}`)
      .send(body as object);

  /** Answers within `ms` (the probe took 2.5–40 s per request). */
  async function quickly(req: request.Test, ms = 2000): Promise<request.Response> {
    const started = Date.now();
    const res = await req;
    expect(Date.now() - started).toBeLessThan(ms);
    return res;
  }

  it('rejects loops nested over @root lists (cost n^depth) with the step limit', async () => {
    // The probe: 514 bytes, four nested each over 100 items: 10^8 passes.
    const res = await quickly(
      post('/api/v1/send', {
        to: 'ann@example.com',
        subject: 'x',
        html: nestedEach(4),
        variables: { a: items(100) },
      }),
    );
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_RENDER_STEPS', 'html'));
  });

  it('rejects the same loops through a block helper missing, in the text and the subject', async () => {
    for (const body of [
      { subject: 'x', text: '{{#a}}{{#a}}{{#a}}{{#a}}.{{/a}}{{/a}}{{/a}}{{/a}}' },
      { subject: nestedEach(4), text: 'x' },
    ]) {
      const res = await quickly(
        post('/api/v1/send', { to: 'ann@example.com', ...body, variables: { a: items(100) } }),
      );
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('template_too_complex');
    }
  });

  it('counts loops with an empty body, and objects iterated by key', async () => {
    const keys = Object.fromEntries(items(100).map((i) => [`k${i}`, i]));
    const res = await quickly(
      post('/api/v1/send', {
        to: 'ann@example.com',
        subject: 'x',
        html: '{{#each o}}{{#each @root.o}}{{#each @root.o}}{{/each}}{{/each}}{{/each}}',
        variables: { o: keys },
      }),
    );
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_RENDER_STEPS'));
  });

  it('accepts the same loops over short lists', async () => {
    await post('/api/v1/send', {
      to: 'ann@example.com',
      subject: 'x',
      html: nestedEach(2),
      variables: { a: items(20) },
    }).expect(202);
  });

  it('rejects 30,000 mustaches (205 KB) with the mustache limit, quickly', async () => {
    const html = '{{a}}{{b}}'.repeat(15_000) + 'x'.repeat(55_000);
    const res = await quickly(post('/api/v1/send', { to: 'ann@example.com', subject: 'x', html }));
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_MUSTACHES', 'html'));
  });

  it('rejects an 820 KB template with the size limit, quickly', async () => {
    const text = '<p>{{name}}</p>'.repeat(1000) + 'y'.repeat(805_000);
    const res = await quickly(post('/api/v1/send', { to: 'ann@example.com', subject: 'x', text }));
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_FIELD_BYTES', 'text'));
  });

  it('rejects blocks nested deeper than the nesting limit', async () => {
    const html = '{{#if a}}'.repeat(11) + 'x' + '{{/if}}'.repeat(11);
    const res = await quickly(post('/api/v1/send', { to: 'ann@example.com', subject: 'x', html }));
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_NESTING', 'html'));
    // A long {{else if}} chain is not nesting.
    const chain = '{{#if a}}a' + '{{else if b}}b'.repeat(20) + '{{/if}}';
    await post('/api/v1/send', { to: 'ann@example.com', subject: 'x', html: chain }).expect(202);
  });

  it('rejects inline partials, which expand without bound', async () => {
    const html =
      '{{#*inline "a"}}xxxxxxxx{{/inline}}{{#*inline "b"}}{{> a}}{{> a}}{{/inline}}{{> b}}';
    const res = await quickly(post('/api/v1/send', { to: 'ann@example.com', subject: 'x', html }));
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({
      code: 'template_too_complex',
      message: expect.stringMatching(/inline partials/),
      details: [expect.objectContaining({ field: 'html', limit: 'inline_partials' })],
    });
  });

  it('rejects a batch whose recipients’ variables make the loops too long', async () => {
    const res = await quickly(
      post('/api/v1/batch', {
        subject: 'x',
        html: nestedEach(3),
        recipients: [
          { to: 'a@example.com', variables: { a: items(3) } },
          { to: 'b@example.com', variables: { a: items(100) } },
        ],
      }),
    );
    expect(res.status).toBe(422);
    expect(res.body).toEqual(tooComplex('TEMPLATE_MAX_RENDER_STEPS', 'html'));
  });

  it('bounds stored templates: create, send by template_id and preview', async () => {
    const deep = '{{#with a}}'.repeat(11) + 'x' + '{{/with}}'.repeat(11);
    const create = await quickly(
      post('/api/v1/templates', {
        external_id: 'deep-one',
        name: 'deep',
        subject: 's',
        html_content: deep,
      }),
    );
    expect(create.status).toBe(422);
    expect(create.body).toEqual(tooComplex('TEMPLATE_MAX_NESTING', 'html_content'));

    await post('/api/v1/templates', {
      external_id: 'loops',
      name: 'loops',
      subject: 's',
      html_content: nestedEach(4),
    }).expect(201);
    const send = await quickly(
      post('/api/v1/send', {
        to: 'ann@example.com',
        template_id: 'loops',
        variables: { a: items(100) },
      }),
    );
    expect(send.status).toBe(422);
    expect(send.body).toEqual(tooComplex('TEMPLATE_MAX_RENDER_STEPS', 'html_content'));
    await post('/api/v1/send', {
      to: 'ann@example.com',
      template_id: 'loops',
      variables: { a: items(3) },
    }).expect(202);

    const preview = await quickly(
      post('/api/v1/templates/loops/preview', { variables: { a: items(100) } }),
    );
    expect(preview.status).toBe(422);
    expect(preview.body.error.code).toBe('template_too_complex');
  });
});

describe('Template limits at delivery (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    // Limits loose enough that the hostile render is accepted and reaches a worker thread:
    // only its time budget (and output limit) stop it.
    t = await bootTestApp({
      ...ENV,
      APP_ROLES: 'api,worker',
      TEMPLATE_MAX_RENDER_STEPS: '1000000000',
      TEMPLATE_RENDER_TIMEOUT_MS: '1500',
    });
    key = await t.createKey('full');
  });
  afterAll(() => t?.close());

  const send = (body: unknown) =>
    request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send(body as object)
      .expect(202);

  async function finalStatus(id: string): Promise<{ status: string; error: string | null }> {
    // waitFor resolves only with a truthy value (it throws on timeout).
    const final = await waitFor(
      async () => {
        const [row] = await t.dataSource.query(
          'SELECT status, error_message FROM email_logs WHERE external_message_id = $1',
          [id],
        );
        return row && ['failed', 'delivered', 'sent'].includes(row.status)
          ? { status: row.status as string, error: row.error_message as string | null }
          : null;
      },
      `message ${id} final`,
      30_000,
    );
    return final!;
  }

  it('fails a render over its time budget as template_too_complex; /health/live keeps answering and other mail is delivered', async () => {
    const hostile = await send({
      to: 'ann@example.com',
      subject: 'x',
      html: nestedEach(4),
      variables: { a: items(100) },
    });

    // Liveness during the hostile render: every probe answers promptly.
    const latencies: number[] = [];
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const started = Date.now();
      await request(t.server).get('/health/live').expect(200);
      latencies.push(Date.now() - started);
      await new Promise((r) => setTimeout(r, 20));
    }
    const normal = await send({
      to: 'bob@example.com',
      subject: 'Hi {{n}}',
      html: '<p>{{n}}</p>',
      variables: { n: 'B' },
    });

    const failed = await finalStatus(hostile.body.message_id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^template_too_complex: .*TEMPLATE_RENDER_TIMEOUT_MS/);
    const [event] = await t.dataSource.query(
      `SELECT e.details FROM email_events e JOIN email_logs l ON l.id = e.email_log_id
        WHERE l.external_message_id = $1 AND e.event_type = 'failed'`,
      [hostile.body.message_id],
    );
    expect(event.details).toMatchObject({ code: 'template_too_complex' });

    expect(latencies.length).toBeGreaterThan(20);
    expect(Math.max(...latencies)).toBeLessThan(250);
    expect((await finalStatus(normal.body.message_id)).status).not.toBe('failed');
  });

  it('fails a render whose output is over the output limit, during rendering', async () => {
    // 20,000 passes × 100 KB: 2 GB of output if it were built.
    const res = await send({
      to: 'ann@example.com',
      subject: 'x',
      text: '{{#each a}}{{../big}}{{/each}}',
      variables: { a: items(20_000), big: 'z'.repeat(100_000) },
    });
    const failed = await finalStatus(res.body.message_id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^template_too_complex: .*TEMPLATE_MAX_OUTPUT_BYTES/);
  });
});
