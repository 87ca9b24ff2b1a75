import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import request from 'supertest';
import { QueueName } from 'src/infra/queue/queue.constants';
import { DeliveryService } from 'src/modules/emails/delivery.service';
import { IdempotencyService } from 'src/modules/emails/idempotency.service';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

describe('sending through Postal (e2e)', () => {
  let postal: FakePostal;
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    postal = await new FakePostal().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      POSTAL_TIMEOUT_MS: '400',
      DELIVERY_BACKOFF_MS: '50',
      DELIVERY_MAX_ATTEMPTS: '4',
      DEFAULT_FROM: 'Shop <news@shop.example>',
      PUBLIC_URL: 'https://mail.shop.example',
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  const send = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .set(headers)
      .send(body);

  const status = async (id: string) =>
    (
      await request(t.server)
        .get(`/api/v1/status/${id}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(200)
    ).body;

  const statusIs = (id: string, wanted: string) => async () => {
    const s = await status(id);
    return s.status === wanted ? s : null;
  };

  describe('POST /api/v1/send', () => {
    it('renders, tracks and hands the message to Postal with the service headers', async () => {
      const res = await send({
        to: { email: 'ann@example.com', name: 'Ann Smith' },
        subject: 'Hi {{name}} & co',
        html: '<html><body><p>Hello {{name}}</p><a href="https://shop.example/p?a=1&amp;b=2#top">Shop</a> <a href="mailto:x@y.z">mail</a></body></html>',
        text: 'Hello {{name}}',
        variables: { name: '<Ann>' },
        campaign_id: 'spring',
        tag: 'welcome',
        headers: { 'X-Entity-Ref': '42' },
        reply_to: 'help@shop.example',
        // README "Streams": transactional mail carries List-Unsubscribe only when asked.
        unsubscribe: true,
      }).expect(202);
      expect(res.body).toEqual({ message_id: expect.any(String), status: 'queued', send_at: null });
      const id = res.body.message_id as string;
      await waitFor(statusIs(id, 'sent'), 'sent');

      const [m] = postal.received.filter((r) => r.body.headers?.['X-Email-Id'] === id);
      expect(m.body.to).toEqual(['Ann Smith <ann@example.com>']);
      expect(m.body.from).toBe('Shop <news@shop.example>');
      expect(m.body.reply_to).toBe('help@shop.example');
      expect(m.body.tag).toBe('welcome');
      // Subject and text are text: no HTML escaping. The HTML body escapes variables.
      expect(m.body.subject).toBe('Hi <Ann> & co');
      expect(m.body.plain_body).toContain('Hello <Ann>');
      expect(m.body.html_body).toContain('Hello &lt;Ann&gt;');
      expect(m.body.html_body).not.toContain('<Ann>');
      // Headers: caller's, X-Email-Id, RFC 8058 one-click unsubscribe.
      expect(m.body.headers).toEqual({
        'X-Entity-Ref': '42',
        'X-Email-Id': id,
        'List-Unsubscribe': expect.stringMatching(
          /^<https:\/\/mail\.shop\.example\/unsubscribe\/[^>]+>$/,
        ),
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      });
      // Open pixel before </body>, the link rewritten, mailto untouched, an unsubscribe footer.
      expect(m.body.html_body).toMatch(
        /<img src="https:\/\/mail\.shop\.example\/t\/o\/[^"]+"[^>]*><\/body>/,
      );
      expect(m.body.html_body).not.toContain('https://shop.example/p');
      expect(m.body.html_body).toContain('href="mailto:x@y.z"');
      expect(m.body.html_body).toContain('/unsubscribe/');

      // Postal's id and token are stored.
      const row = (
        await t.dataSource.query(
          'SELECT provider_message_id, provider_token, postal_message_id FROM email_logs WHERE external_message_id = $1',
          [id],
        )
      )[0];
      expect(row).toEqual({
        provider_message_id: String(m.id),
        provider_token: m.token,
        postal_message_id: m.messageId,
      });

      // The click link redirects to the exact original URL (entity decoded, query and fragment kept).
      const click = /href="(https:\/\/mail\.shop\.example\/t\/c\/[^"]+)"/.exec(
        m.body.html_body!,
      )![1];
      const clickPath = new URL(click).pathname;
      const redirect = await request(t.server).get(clickPath).expect(302);
      expect(redirect.headers.location).toBe('https://shop.example/p?a=1&b=2#top');
      // A tampered token is a 400, never a redirect.
      const tampered = clickPath.slice(0, -3) + (clickPath.endsWith('AAA') ? 'BBB' : 'AAA');
      const bad = await request(t.server).get(tampered).expect(400);
      expect(bad.headers.location).toBeUndefined();
      expect(bad.body.error.code).toBe('validation_error');

      // The pixel is a 43-byte GIF that records the open.
      const pixel = /src="https:\/\/mail\.shop\.example(\/t\/o\/[^"]+)"/.exec(
        m.body.html_body!,
      )![1];
      const gif = await request(t.server).get(pixel).expect(200);
      expect(gif.headers['content-type']).toBe('image/gif');
      expect(gif.headers['cache-control']).toContain('no-store');
      expect(gif.body.length).toBe(43);

      const s = await status(id);
      expect(s.opened_at).not.toBeNull();
      expect(s.clicked_at).not.toBeNull();
      expect(s.campaign_id).toBe('spring');
      expect(s.events.map((e: { type: string }) => e.type)).toEqual([
        'queued',
        'sent',
        'clicked',
        'opened',
      ]);
      expect(s.events[2].details.url).toBe('https://shop.example/p?a=1&b=2#top');
    });

    it('sends a stored template with variables and a subject override', async () => {
      await request(t.server)
        .post('/api/v1/templates')
        .set('Authorization', `Bearer ${key}`)
        .send({
          external_id: 'welcome',
          name: 'Welcome',
          subject: 'Welcome {{first_name}}',
          html_content: '<p>Hi {{first_name}}, id {{message_id}}</p>',
        })
        .expect(201);
      const res = await send({
        to: 'bob@example.com',
        template_id: 'welcome',
        variables: { first_name: 'Bob' },
      }).expect(202);
      const id = res.body.message_id;
      await waitFor(statusIs(id, 'sent'), 'sent');
      const m = postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id)!;
      expect(m.body.subject).toBe('Welcome Bob');
      expect(m.body.html_body).toContain(`Hi Bob, id ${id}`);
      // Plain text derived from the HTML when the template has none.
      expect(m.body.plain_body).toContain(`Hi Bob, id ${id}`);
      expect((await status(id)).template_id).toBe('welcome');

      const override = await send({
        to: 'bob@example.com',
        template_id: 'welcome',
        subject: 'Psst {{first_name}}',
        variables: { first_name: 'Bo' },
      }).expect(202);
      await waitFor(statusIs(override.body.message_id, 'sent'), 'sent');
      expect(
        postal.received.find((r) => r.body.headers?.['X-Email-Id'] === override.body.message_id)!
          .body.subject,
      ).toBe('Psst Bo');
    });

    it('answers 404 template_not_found for an unknown template', async () => {
      const res = await send({ to: 'a@example.com', template_id: 'nope' }).expect(404);
      expect(res.body.error.code).toBe('template_not_found');
    });

    it('answers 422 template_invalid for inline content that does not compile', async () => {
      const res = await send({ to: 'a@example.com', subject: 'x', html: '<p>{{#if}}</p>' }).expect(
        422,
      );
      expect(res.body.error.code).toBe('template_invalid');
    });

    it.each([
      ['subject with LF', { subject: 'a\nBcc: x@evil.example', text: 'x' }],
      ['subject with CR', { subject: 'a\rb', text: 'x' }],
      ['from with CRLF', { from: 'a@b.example\r\nBcc: x@evil.example', subject: 's', text: 'x' }],
      ['reply_to with LF', { reply_to: 'a@b.example\n', subject: 's', text: 'x' }],
      [
        'header value with CRLF',
        { headers: { 'X-A': 'v\r\nBcc: x@evil.example' }, subject: 's', text: 'x' },
      ],
      ['header name with a colon', { headers: { 'X-A:b': 'v' }, subject: 's', text: 'x' }],
      ['a reserved header', { headers: { From: 'x@evil.example' }, subject: 's', text: 'x' }],
      [
        'recipient name with LF',
        { to: { email: 'a@example.com', name: 'A\nB' }, subject: 's', text: 'x' },
      ],
    ])('rejects %s with 400 validation_error', async (_label, body) => {
      const res = await send({ to: 'a@example.com', ...body }).expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details.length).toBeGreaterThan(0);
    });

    it.each([
      ['no recipient', { subject: 's', text: 'x' }],
      ['a bad recipient', { to: 'not-an-address', subject: 's', text: 'x' }],
      ['no content', { to: 'a@example.com', subject: 's' }],
      ['inline content without a subject', { to: 'a@example.com', text: 'x' }],
      [
        'send_at more than 30 days ahead',
        {
          to: 'a@example.com',
          subject: 's',
          text: 'x',
          send_at: new Date(Date.now() + 31 * 86400e3).toISOString(),
        },
      ],
      [
        'send_at that is not a date',
        { to: 'a@example.com', subject: 's', text: 'x', send_at: 'tomorrow' },
      ],
      [
        'variables that are not an object',
        { to: 'a@example.com', subject: 's', text: 'x', variables: [1] },
      ],
      [
        'an unknown property',
        { to: 'a@example.com', subject: 's', text: 'x', cc: 'b@example.com' },
      ],
      ['a wrong type', { to: 'a@example.com', subject: 's', text: 'x', track_opens: 'yes' }],
    ])('rejects %s with 400 in the error shape', async (_label, body) => {
      const res = await send(body).expect(400);
      expect(res.body).toEqual({
        error: expect.objectContaining({ code: 'validation_error' }),
        request_id: expect.any(String),
      });
    });

    it('commits the row before answering 202', async () => {
      const res = await send({
        to: 'commit@example.com',
        subject: 's',
        text: 'x',
        send_at: new Date(Date.now() + 3600e3).toISOString(),
      }).expect(202);
      const rows = await t.dataSource.query(
        'SELECT status FROM email_logs WHERE external_message_id = $1',
        [res.body.message_id],
      );
      expect(rows).toEqual([{ status: 'queued' }]);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first answer for the same key and body', async () => {
      const body = { to: 'idem@example.com', subject: 'once', text: 'x' };
      const first = await send(body, { 'Idempotency-Key': 'k-1' }).expect(202);
      const again = await send(body, { 'Idempotency-Key': 'k-1' }).expect(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const rows = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM email_logs WHERE recipient = 'idem@example.com'`,
      );
      expect(rows[0].n).toBe(1);
    });

    it('answers 409 for the same key with another body', async () => {
      await send(
        { to: 'idem2@example.com', subject: 'a', text: 'x' },
        { 'Idempotency-Key': 'k-2' },
      ).expect(202);
      const res = await send(
        { to: 'idem2@example.com', subject: 'b', text: 'x' },
        { 'Idempotency-Key': 'k-2' },
      ).expect(409);
      expect(res.body.error.code).toBe('idempotency_key_conflict');
    });

    it('answers 409 while the first request with the key is still in flight', async () => {
      const body = { to: 'idem3@example.com', subject: 'a', text: 'x' };
      const apiKeyId = (
        await t.dataSource.query(`SELECT id FROM api_keys WHERE key_prefix = $1`, [key.slice(0, 8)])
      )[0].id;
      await t.app
        .get(IdempotencyService)
        .claim(apiKeyId, 'k-3', IdempotencyService.hashRequest('/api/v1/send', body));
      const res = await send(body, { 'Idempotency-Key': 'k-3' }).expect(409);
      expect(res.body.error.message).toMatch(/still being processed/);
    });

    it('keys are per API key', async () => {
      const other = await t.createKey();
      const body = { to: 'idem4@example.com', subject: 'a', text: 'x' };
      const a = await send(body, { 'Idempotency-Key': 'shared' }).expect(202);
      const b = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${other}`)
        .set('Idempotency-Key', 'shared')
        .send(body)
        .expect(202);
      expect(b.body.message_id).not.toBe(a.body.message_id);
    });

    it('rejects an over-long key', async () => {
      await send(
        { to: 'a@example.com', subject: 'a', text: 'x' },
        { 'Idempotency-Key': 'k'.repeat(257) },
      ).expect(400);
    });
  });

  describe('send_at', () => {
    it('does not send early and sends after', async () => {
      const at = new Date(Date.now() + 2500);
      const res = await send({
        to: 'later@example.com',
        subject: 'later',
        text: 'x',
        send_at: at.toISOString(),
      }).expect(202);
      expect(res.body.send_at).toBe(at.toISOString());
      await new Promise((r) => setTimeout(r, 1500));
      expect(postal.to('later@example.com')).toHaveLength(0);
      expect((await status(res.body.message_id)).status).toBe('queued');
      const sent = await waitFor(statusIs(res.body.message_id, 'sent'), 'sent', 10_000);
      expect(new Date(sent.sent_at).getTime()).toBeGreaterThanOrEqual(at.getTime());
      expect(postal.to('later@example.com')).toHaveLength(1);
    });
  });

  describe('Postal errors (README "How mail flows", 3)', () => {
    it.each([
      'NoRecipients',
      'NoContent',
      'FromAddressMissing',
      'UnauthenticatedFromAddress',
      'TooManyToAddresses',
      'AttachmentMissingName',
    ])('fails the message at once on %s', async (code) => {
      postal.queueResponses({ kind: 'error', code, message: 'nope' });
      const before = postal.attempts;
      const res = await send({ to: `perm-${code}@example.com`, subject: 's', text: 'x' }).expect(
        202,
      );
      const s = await waitFor(statusIs(res.body.message_id, 'failed'), 'failed');
      expect(s.error_message).toBe(`postal: ${code}: nope`);
      await new Promise((r) => setTimeout(r, 300));
      expect(postal.attempts - before).toBe(1);
    });

    it('fails the message at once on parameter-error', async () => {
      postal.queueResponses({ kind: 'parameter-error', message: 'Bad from' });
      const res = await send({ to: 'param@example.com', subject: 's', text: 'x' }).expect(202);
      const s = await waitFor(statusIs(res.body.message_id, 'failed'), 'failed');
      expect(s.error_message).toMatch(/^postal: ParameterError: Bad from/);
    });

    it.each([
      ['HTTP 500', { kind: 'http', status: 500 } as const],
      ['HTTP 503', { kind: 'http', status: 503 } as const],
      ['a timeout', { kind: 'hang', ms: 1500 } as const],
      ['a dropped connection', { kind: 'drop' } as const],
      ['InvalidServerAPIKey', { kind: 'error', code: 'InvalidServerAPIKey' } as const],
      ['ServerSuspended', { kind: 'error', code: 'ServerSuspended' } as const],
    ])('retries after %s and sends exactly once', async (_label, step) => {
      postal.queueResponses(step, step);
      const address = `retry-${Math.random().toString(36).slice(2)}@example.com`;
      const res = await send({ to: address, subject: 's', text: 'x' }).expect(202);
      await waitFor(statusIs(res.body.message_id, 'sent'), 'sent', 20_000);
      expect(postal.to(address)).toHaveLength(1);
    });

    it('marks the message failed with the last error when attempts run out', async () => {
      postal.queueResponses(
        ...Array.from({ length: 4 }, () => ({ kind: 'http', status: 502 }) as const),
      );
      const res = await send({ to: 'exhaust@example.com', subject: 's', text: 'x' }).expect(202);
      const s = await waitFor(statusIs(res.body.message_id, 'failed'), 'failed', 20_000);
      expect(s.error_message).toBe('Postal answered HTTP 502');
      expect(postal.to('exhaust@example.com')).toHaveLength(0);
    });
  });

  describe('unsubscribe', () => {
    it('serves the page, accepts the form and one-click posts, then suppresses the address', async () => {
      const res = await send({
        to: 'Leaver@Example.com',
        subject: 's',
        html: '<p>bye</p>',
        stream: 'broadcast',
      }).expect(202);
      await waitFor(statusIs(res.body.message_id, 'sent'), 'sent');
      const m = postal.received.find(
        (r) => r.body.headers?.['X-Email-Id'] === res.body.message_id,
      )!;
      const path = new URL(/^<(.+)>$/.exec(m.body.headers!['List-Unsubscribe'])![1]).pathname;

      const page = await request(t.server).get(path).expect(200);
      expect(page.text).toContain('Leaver@Example.com');
      expect(page.text).toContain('<form method="post"');

      const done = await request(t.server).post(path).type('form').send({}).expect(200);
      expect(done.text).toContain('unsubscribed');
      const oneClick = await request(t.server)
        .post(path)
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);
      expect(oneClick.text).toBe('');

      // The unsubscribe came from broadcast mail: broadcast is refused (README "Streams").
      for (const to of ['leaver@example.com', 'LEAVER@EXAMPLE.COM', ' leaver@Example.com ']) {
        const blocked = await send({ to, subject: 's', text: 'x', stream: 'broadcast' }).expect(
          422,
        );
        expect(blocked.body.error.code).toBe('recipient_suppressed');
        expect(blocked.body.error.message).toContain('unsubscribe');
      }
      // With an Idempotency-Key too; and nothing was stored for the refused sends.
      const keyed = await send({
        to: 'leaver@example.com',
        subject: 's',
        text: 'x',
        stream: 'broadcast',
      })
        .set('Idempotency-Key', `leaver-${Date.now()}`)
        .expect(422);
      expect(keyed.body.error.code).toBe('recipient_suppressed');
      const stored: Array<{ n: number }> = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM email_logs WHERE lower(btrim(recipient)) = 'leaver@example.com'`,
      );
      expect(stored[0].n).toBe(1);
      const s = await status(res.body.message_id);
      expect(s.events.filter((e: { type: string }) => e.type === 'unsubscribed')).toHaveLength(1);
    });

    it('rejects a forged unsubscribe token', async () => {
      await request(t.server).get('/unsubscribe/not-a-token').expect(400);
      await request(t.server)
        .post('/unsubscribe/not-a-token')
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(400);
    });
  });

  describe('GET /api/v1/messages', () => {
    it('filters and pages newest first', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (
            await send({
              to: `page${i}@list.example`,
              subject: 's',
              text: 'x',
              campaign_id: 'paging',
            }).expect(202)
          ).body.message_id,
        );
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: Record<string, string> = {
          campaign_id: 'paging',
          limit: '2',
          ...(cursor ? { cursor } : {}),
        };
        const page = await request(t.server)
          .get('/api/v1/messages')
          .query(q)
          .set('Authorization', `Bearer ${key}`)
          .expect(200);
        seen.push(...page.body.data.map((m: { message_id: string }) => m.message_id));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      const byDomain = await request(t.server)
        .get('/api/v1/messages')
        .query({ domain: 'LIST.example', recipient: 'PAGE3@list.example' })
        .set('Authorization', `Bearer ${key}`)
        .expect(200);
      expect(byDomain.body.data.map((m: { message_id: string }) => m.message_id)).toEqual([ids[3]]);
    });

    it('rejects bad filters', async () => {
      for (const q of [
        { status: 'nope' },
        { limit: '0' },
        { limit: '501' },
        { cursor: 'garbage' },
        { from: 'yesterday' },
      ]) {
        const res = await request(t.server)
          .get('/api/v1/messages')
          .query(q)
          .set('Authorization', `Bearer ${key}`)
          .expect(400);
        expect(res.body.error.code).toBe('validation_error');
      }
    });

    it('needs a full-scope key', async () => {
      const sendKey = await t.createKey('send');
      const res = await request(t.server)
        .get('/api/v1/messages')
        .set('Authorization', `Bearer ${sendKey}`)
        .expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });
  });

  describe('a claim left by a worker that died mid-send', () => {
    /** A message accepted for later, then made to look claimed by a worker `ageS` ago. */
    async function abandoned(ageS: number): Promise<string> {
      const res = await send({
        to: `crash-${Math.random().toString(36).slice(2)}@example.com`,
        subject: 's',
        text: 'x',
        send_at: new Date(Date.now() + 3600e3).toISOString(),
      }).expect(202);
      await t.dataSource.query(
        `UPDATE email_logs SET status = 'processing', send_at = NULL,
                created_at = now() - make_interval(secs => $2),
                updated_at = now() - make_interval(secs => $2) WHERE external_message_id = $1`,
        [res.body.message_id, ageS],
      );
      return res.body.message_id;
    }

    it('makes the stalled job wait for the claim to go stale, then delivers once', async () => {
      const delivery = t.app.get(DeliveryService);
      const id = await abandoned(10);
      const early = await delivery.deliver(id, 'example.com', { attemptsMade: 0, maxAttempts: 4 });
      expect(early).toEqual(expect.objectContaining({ kind: 'delay', reason: 'claimed' }));
      expect((early as { delayMs: number }).delayMs).toBeGreaterThan(280_000);
      await t.dataSource.query(
        `UPDATE email_logs SET updated_at = now() - interval '6 minutes' WHERE external_message_id = $1`,
        [id],
      );
      await expect(
        delivery.deliver(id, 'example.com', { attemptsMade: 0, maxAttempts: 4 }),
      ).resolves.toEqual(expect.objectContaining({ kind: 'sent' }));
      expect(postal.received.filter((m) => m.body.headers?.['X-Email-Id'] === id)).toHaveLength(1);
    });

    it('has the outbox sweep return long-abandoned claims to the queue', async () => {
      const id = await abandoned(11 * 60);
      // Its job is gone too (as after a Redis loss): only the sweep can bring it back.
      await t.app.get<Queue>(getQueueToken(QueueName.EmailDelivery)).remove(id);
      await expect(t.app.get(OutboxService).sweep()).resolves.toBeGreaterThanOrEqual(1);
      await waitFor(statusIs(id, 'sent'), 'sent after the sweep');
      expect(postal.received.filter((m) => m.body.headers?.['X-Email-Id'] === id)).toHaveLength(1);
    });
  });
});
