import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FakePostal, type ReceivedMessage } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { sleep, waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

/**
 * Streams end to end (README "Streams"): defaults and overrides, unsubscribe headers, scoped
 * suppression (API, unsubscribe links, complaints, hard bounces) and pausing one stream, with
 * FakePostal receiving what leaves.
 */
describe('transactional and broadcast streams (e2e)', () => {
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
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
      RATE_LIMIT_BATCH_PER_MIN: '1000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  const api = () => ({
    post: (path: string) => request(t.server).post(path).set('Authorization', `Bearer ${key}`),
    get: (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${key}`),
    del: (path: string) => request(t.server).delete(path).set('Authorization', `Bearer ${key}`),
  });
  const address = (label: string) => `${label}-${randomUUID().slice(0, 8)}@streams.example`;
  const received = (id: string) =>
    waitFor(
      () => postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id),
      `postal to receive ${id}`,
    ) as Promise<ReceivedMessage>;

  async function send(body: Record<string, unknown>): Promise<string> {
    const res = await api()
      .post('/api/v1/send')
      .send({ subject: 'Hi', text: 'Hello', ...body })
      .expect(202);
    return res.body.message_id as string;
  }

  async function batch(body: Record<string, unknown>): Promise<request.Response> {
    return api()
      .post('/api/v1/batch')
      .send({ subject: 'News', text: 'Hello', ...body })
      .expect(202);
  }

  describe('stream of a message', () => {
    it('defaults to transactional on /send and broadcast on /batch, and shows it', async () => {
      const single = await send({ to: address('s') });
      const b = await batch({ recipients: [{ to: address('b') }] });
      const fromBatch = b.body.messages[0].message_id as string;
      expect((await api().get(`/api/v1/status/${single}`).expect(200)).body.stream).toBe(
        'transactional',
      );
      expect((await api().get(`/api/v1/status/${fromBatch}`).expect(200)).body.stream).toBe(
        'broadcast',
      );
    });

    it('takes the request stream over the endpoint default', async () => {
      const single = await send({ to: address('s'), stream: 'broadcast' });
      const b = await batch({ recipients: [{ to: address('b') }], stream: 'transactional' });
      expect((await api().get(`/api/v1/status/${single}`).expect(200)).body.stream).toBe(
        'broadcast',
      );
      const id = b.body.messages[0].message_id as string;
      expect((await api().get(`/api/v1/status/${id}`).expect(200)).body.stream).toBe(
        'transactional',
      );
    });

    it("takes a template's stream as the default, the request's over it", async () => {
      const externalId = `news-${randomUUID().slice(0, 8)}`;
      const created = await api()
        .post('/api/v1/templates')
        .send({
          external_id: externalId,
          name: 'News',
          subject: 'News',
          plain_content: 'Hello',
          stream: 'broadcast',
        })
        .expect(201);
      expect(created.body.external_id).toBe(externalId);
      expect((await api().get(`/api/v1/templates/${externalId}`).expect(200)).body.stream).toBe(
        'broadcast',
      );
      const byTemplate = await send({
        to: address('t'),
        template_id: externalId,
        subject: undefined,
        text: undefined,
      });
      const overridden = await send({
        to: address('t'),
        template_id: externalId,
        subject: undefined,
        text: undefined,
        stream: 'transactional',
      });
      expect((await api().get(`/api/v1/status/${byTemplate}`).expect(200)).body.stream).toBe(
        'broadcast',
      );
      expect((await api().get(`/api/v1/status/${overridden}`).expect(200)).body.stream).toBe(
        'transactional',
      );
      const updated = await request(t.server)
        .put(`/api/v1/templates/${externalId}`)
        .set('Authorization', `Bearer ${key}`)
        .send({ stream: null })
        .expect(200);
      expect(updated.body.stream).toBeNull();
    });

    it('filters the message list by stream', async () => {
      const to = address('f');
      const tx = await send({ to });
      const bc = await send({ to, stream: 'broadcast' });
      const list = await api()
        .get(`/api/v1/messages?recipient=${encodeURIComponent(to)}&stream=broadcast`)
        .expect(200);
      expect(list.body.data.map((m: { message_id: string }) => m.message_id)).toEqual([bc]);
      expect(list.body.data.map((m: { message_id: string }) => m.message_id)).not.toContain(tx);
    });

    it('refuses an unknown stream with a 400 naming the field', async () => {
      const res = await api()
        .post('/api/v1/send')
        .send({ to: address('x'), subject: 's', text: 't', stream: 'marketing' })
        .expect(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'stream' })]);
      await api().get('/api/v1/messages?stream=marketing').expect(400);
    });
  });

  describe('List-Unsubscribe', () => {
    it('is on broadcast mail by default, and on transactional mail only when asked', async () => {
      const plain = await received(await send({ to: address('u') }));
      const asked = await received(await send({ to: address('u'), unsubscribe: true }));
      const news = await received(await send({ to: address('u'), stream: 'broadcast' }));
      const notNews = await received(
        await send({ to: address('u'), stream: 'broadcast', unsubscribe: false }),
      );
      expect(plain.body.headers?.['List-Unsubscribe']).toBeUndefined();
      expect(asked.body.headers?.['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
      expect(news.body.headers?.['List-Unsubscribe']).toMatch(/^<http.*\/unsubscribe\/.+>$/);
      expect(news.body.headers?.['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
      expect(notNews.body.headers?.['List-Unsubscribe']).toBeUndefined();
    });
  });

  describe('scoped suppression', () => {
    it('a one-click unsubscribe from broadcast mail stops broadcast only', async () => {
      const to = address('unsub');
      const news = await received(await send({ to, stream: 'broadcast' }));
      const link = /^<(.+)>$/.exec(news.body.headers!['List-Unsubscribe'])![1];
      // RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click to the URL.
      await request(t.server)
        .post(new URL(link).pathname)
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);

      const entries = await api()
        .get('/api/v1/blacklist?reason=unsubscribe&scope=broadcast')
        .expect(200);
      expect(entries.body.data).toContainEqual(
        expect.objectContaining({ email: to, reason: 'unsubscribe', scope: 'broadcast' }),
      );
      // Transactional mail still flows: accepted and handed to Postal.
      await received(await send({ to }));
      // Broadcast mail does not: a 422 on /send, a per-recipient rejection on /batch.
      const refused = await api()
        .post('/api/v1/send')
        .send({ to, subject: 's', text: 't', stream: 'broadcast' })
        .expect(422);
      expect(refused.body.error.code).toBe('recipient_suppressed');
      const b = await batch({ recipients: [{ to }, { to: address('ok') }] });
      expect(b.body.accepted).toBe(1);
      expect(b.body.rejected).toEqual([
        expect.objectContaining({ index: 0, code: 'recipient_suppressed' }),
      ]);
      const check = await api()
        .get(`/api/v1/blacklist/check?email=${encodeURIComponent(to)}&stream=transactional`)
        .expect(200);
      expect(check.body).toMatchObject({ blocked: false, reason: null, scope: null });
      const checkBroadcast = await api()
        .get(`/api/v1/blacklist/check?email=${encodeURIComponent(to)}&stream=broadcast`)
        .expect(200);
      expect(checkBroadcast.body).toMatchObject({ blocked: true, scope: 'broadcast' });
    });

    it('a complaint suppresses the stream it came from', async () => {
      const to = address('complaint');
      const id = await send({ to, stream: 'broadcast' });
      await received(id);
      await waitFor(
        async () => (await api().get(`/api/v1/status/${id}`)).body.status === 'sent',
        'sent',
      );
      await api().post('/api/v1/complaints').send({ message_id: id }).expect(200);
      const check = await api()
        .get(`/api/v1/blacklist/check?email=${encodeURIComponent(to)}`)
        .expect(200);
      expect(check.body).toMatchObject({ blocked: true, reason: 'complaint', scope: 'broadcast' });
      await api().post('/api/v1/send').send({ to, subject: 's', text: 't' }).expect(202);
    });

    it('the suppression API takes a scope, lists it and removes one scope', async () => {
      const to = address('api');
      const created = await api()
        .post('/api/v1/blacklist')
        .send({ email: to, scope: 'broadcast' })
        .expect(201);
      expect(created.body).toMatchObject({ email: to, reason: 'manual', scope: 'broadcast' });
      const all = await api().post('/api/v1/blacklist').send({ email: to }).expect(201);
      expect(all.body.scope).toBe('all');
      await api().post('/api/v1/blacklist').send({ email: to, scope: 'marketing' }).expect(400);
      // Scope `all` stops transactional mail too.
      await api().post('/api/v1/send').send({ to, subject: 's', text: 't' }).expect(422);

      await api()
        .del(`/api/v1/blacklist/${encodeURIComponent(to)}?scope=all`)
        .expect(200);
      await api().post('/api/v1/send').send({ to, subject: 's', text: 't' }).expect(202);
      await api()
        .post('/api/v1/send')
        .send({ to, subject: 's', text: 't', stream: 'broadcast' })
        .expect(422);
      await api()
        .del(`/api/v1/blacklist/${encodeURIComponent(to)}?scope=transactional`)
        .expect(404);
      await api()
        .del(`/api/v1/blacklist/${encodeURIComponent(to)}`)
        .expect(200);
      await api()
        .post('/api/v1/send')
        .send({ to, subject: 's', text: 't', stream: 'broadcast' })
        .expect(202);
    });

    it('a message suppressed for its stream after accept fails at the claim; the other stream is sent', async () => {
      await api().post('/api/v1/rate-control/pause').send({}).expect(200);
      const to = address('late');
      const news = await send({ to, stream: 'broadcast' });
      const receipt = await send({ to });
      await api().post('/api/v1/blacklist').send({ email: to, scope: 'broadcast' }).expect(201);
      await api().post('/api/v1/rate-control/resume').send({}).expect(200);
      await received(receipt);
      await waitFor(
        async () => (await api().get(`/api/v1/status/${news}`)).body.status === 'failed',
        'the broadcast message to fail',
      );
    });
  });

  describe('pausing one stream', () => {
    it('holds broadcast mail in the queue while transactional mail goes out, then sends it', async () => {
      await api().post('/api/v1/rate-control/pause').send({ stream: 'broadcast' }).expect(200);
      const state = await api().get('/api/v1/rate-control').expect(200);
      expect(state.body.paused_streams).toEqual(['broadcast']);
      await api()
        .post('/api/v1/rate-control/pause')
        .send({ stream: 'broadcast', domain: 'gmail.com' })
        .expect(400);

      const b = await batch({ recipients: [{ to: address('held') }] });
      const held = b.body.messages[0].message_id as string;
      const receipt = await send({ to: address('receipt') });
      await received(receipt);
      await sleep(500);
      const status = (await api().get(`/api/v1/status/${held}`).expect(200)).body.status;
      expect(status).toBe('queued');
      expect(postal.received.some((r) => r.body.headers?.['X-Email-Id'] === held)).toBe(false);

      const resumed = await api()
        .post('/api/v1/rate-control/resume')
        .send({ stream: 'broadcast' })
        .expect(200);
      expect(resumed.body).toEqual({ domain: null, stream: 'broadcast', paused: false });
      await received(held);
    });
  });
});
