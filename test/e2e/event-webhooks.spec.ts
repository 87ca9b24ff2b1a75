import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from 'src/config/app-config';
import { Clock } from 'src/infra/clock/clock';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';
import { WebhookDeliveryService } from 'src/modules/event-webhooks/webhook-delivery.service';
import { WebhookHttpClient } from 'src/modules/event-webhooks/webhook-http.client';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { WebhookReceiver, type ReceivedWebhook } from 'test/fakes/webhook-receiver';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(120_000);

interface Endpoint {
  id: string;
  secret: string;
}

/** The standardwebhooks verifier, as a customer's app runs it (README "Event webhooks"). */
function verify(
  secret: string,
  r: ReceivedWebhook,
): { type: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  }) as { type: string; data: Record<string, unknown> };
}

/**
 * Event webhooks end to end (README "Event webhooks"): real messages through the sandbox
 * transport, the transition publisher's fan-out, the `event-webhooks` worker and a local
 * receiver; every delivery is verified with the `standardwebhooks` package.
 */
describe('event webhooks (e2e)', () => {
  let t: TestApp;
  let key: string;
  const receiver = new WebhookReceiver();
  const auth = (r: request.Test): request.Test => r.set('Authorization', `Bearer ${key}`);

  beforeAll(async () => {
    await receiver.start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      DEFAULT_FROM: 'Shop <news@shop.example>',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms',
      WEBHOOK_TIMEOUT_MS: '1000',
      // The tests poll the API while they wait; the abuse limits are not under test here.
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });
  afterEach(() => jest.restoreAllMocks());

  async function createEndpoint(
    path: string,
    body: Record<string, unknown> = {},
  ): Promise<Endpoint> {
    const res = await auth(request(t.server).post('/api/v1/webhook-endpoints'))
      .send({ url: receiver.url(path), ...body })
      .expect(201);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    return { id: res.body.id, secret: res.body.secret };
  }

  async function send(to: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await auth(request(t.server).post('/api/v1/send'))
      .send({
        to,
        subject: 'Hi',
        html: '<p>Hi <a href="https://shop.example/a">a</a></p>',
        ...extra,
      })
      .expect(202);
    return res.body.message_id;
  }

  /** The requests at `path` about `messageId` (or of `type`), verified. */
  const about = (
    path: string,
    secret: string,
    pred: (e: { type: string; data: Record<string, unknown> }) => boolean,
  ) =>
    receiver
      .on(path)
      .map((r) => ({ r, e: verify(secret, r) }))
      .filter(({ e }) => pred(e));

  const deliveries = async (id: string): Promise<Array<Record<string, unknown>>> =>
    (
      await auth(
        request(t.server).get(`/api/v1/webhook-endpoints/${id}/deliveries?limit=100`),
      ).expect(200)
    ).body.data;

  it('delivers every event type to a subscribed endpoint, signed so that standardwebhooks verifies it', async () => {
    const ep = await createEndpoint('/all', { description: 'everything' });
    const links = t.app.get(TrackingLinksService);
    await auth(request(t.server).post('/api/v1/blacklist'))
      .send({ email: 'blocked@example.test', reason: 'manual' })
      .expect(201);

    const plain = await send('ann@example.test', { campaign_id: 'spring', tag: 'welcome' });
    const bounce = await send('bounce@simulator.test');
    const delay = await send('delay@simulator.test');
    const complaint = await send('complaint@simulator.test');
    // Suppressed after accept, before its send_at: the claim fails it.
    const later = await send('later@example.test', {
      send_at: new Date(Date.now() + 3000).toISOString(),
    });
    await auth(request(t.server).post('/api/v1/blacklist'))
      .send({ email: 'later@example.test', reason: 'manual' })
      .expect(201);
    await auth(request(t.server).post('/api/v1/send'))
      .send({ to: 'blocked@example.test', subject: 'Hi', text: 'x', campaign_id: 'spring' })
      .expect(422);
    // Scheduled an hour ahead, then canceled before it is handed to Postal.
    const canceled = await send('cancel@example.test', {
      send_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    await auth(request(t.server).delete(`/api/v1/messages/${canceled}`)).expect(200);

    const has = (type: string, messageId: string | null) =>
      about('/all', ep.secret, (e) => e.type === type && e.data.message_id === messageId).length >
      0;
    await waitFor(() => has('email.delivered', plain), 'email.delivered');
    const path = (u: string): string => new URL(u).pathname;
    await request(t.server)
      .get(path(links.openUrl(plain)))
      .expect(200);
    await request(t.server)
      .get(path(links.clickUrl(plain, 'https://shop.example/a')!))
      .expect(302);
    await request(t.server)
      .post(path(links.unsubscribeUrl(plain)))
      .type('form')
      .send('List-Unsubscribe=One-Click')
      .expect(200);

    const expected: Array<[string, string | null]> = [
      ['email.sent', plain],
      ['email.delivered', plain],
      ['email.opened', plain],
      ['email.clicked', plain],
      ['email.unsubscribed', plain],
      ['email.bounced', bounce],
      ['email.delayed', delay],
      ['email.complained', complaint],
      ['email.failed', later],
      ['email.suppressed', null],
      ['email.canceled', canceled],
    ];
    for (const [type, id] of expected)
      await waitFor(() => has(type, id), `${type} of ${id}`, 30_000);

    const one = (type: string, id: string | null) =>
      about('/all', ep.secret, (e) => e.type === type && e.data.message_id === id)[0];
    const delivered = one('email.delivered', plain);
    expect(delivered.r.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(JSON.parse(delivered.r.body)).toEqual(
      expect.objectContaining({
        type: 'email.delivered',
        created_at: expect.any(String),
        data: expect.objectContaining({
          message_id: plain,
          recipient: 'ann@example.test',
          stream: 'transactional',
          campaign_id: 'spring',
          tag: 'welcome',
          batch_id: null,
        }),
      }),
    );
    expect(one('email.bounced', bounce).e.data).toEqual(
      expect.objectContaining({ bounce_type: 'hard', smtp_code: '550', enhanced_code: '5.1.1' }),
    );
    expect(one('email.clicked', plain).e.data.url).toBe('https://shop.example/a');
    expect(one('email.suppressed', null).e.data).toEqual(
      expect.objectContaining({
        recipient: 'blocked@example.test',
        reason: 'manual',
        campaign_id: 'spring',
      }),
    );
    expect(one('email.failed', later).e.data.reason).toBe('Recipient blacklisted');
    // Internal steps (queued, processing, retry_scheduled, held) are never sent.
    const types = new Set(receiver.on('/all').map((r) => JSON.parse(r.body).type as string));
    for (const type of types)
      expect(type).toMatch(
        /^email\.(sent|delivered|opened|clicked|unsubscribed|bounced|delayed|complained|failed|suppressed|canceled)$/,
      );
  });

  it('retries a failing receiver with the same webhook-id until it answers 2xx', async () => {
    receiver.answer = (path, n) =>
      path === '/flaky' && n === 1 ? { status: 500, body: 'boom' } : { status: 200 };
    const ep = await createEndpoint('/flaky', { events: ['email.sent'] });
    const id = await send('flaky@example.test');
    const got = (await waitFor(() => {
      const rs = about('/flaky', ep.secret, (e) => e.data.message_id === id);
      return rs.length >= 2 ? rs : null;
    }, 'two attempts'))!;
    expect(got[0].r.headers['webhook-id']).toBe(got[1].r.headers['webhook-id']);
    const [d] = (await waitFor(async () => {
      const ds = await deliveries(ep.id);
      return ds[0]?.status === 'succeeded' ? ds : null;
    }, 'succeeded'))!;
    expect(d).toEqual(
      expect.objectContaining({
        type: 'email.sent',
        attempts: 2,
        response_status: 200,
        webhook_id: got[0].r.headers['webhook-id'],
      }),
    );
    const detail = await auth(
      request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries/${String(d.id)}`),
    ).expect(200);
    expect(detail.body).toEqual(expect.objectContaining({ id: d.id, status: 'succeeded' }));
    expect(detail.body.attempt_history).toEqual([
      expect.objectContaining({
        attempt: 1,
        response_status: 500,
        response_body: 'boom',
        error: 'HTTP 500',
        duration_ms: expect.any(Number),
      }),
      expect.objectContaining({ attempt: 2, response_status: 200, error: null }),
    ]);
    const [first, second] = detail.body.attempt_history as Array<{ started_at: string }>;
    expect(Date.parse(first.started_at)).toBeLessThanOrEqual(Date.parse(second.started_at));
  });

  it('counts a receiver that does not answer within the timeout as failed, and fails the delivery once the schedule is spent', async () => {
    receiver.answer = (path) =>
      path === '/slow' ? { status: 200, delayMs: 3000 } : { status: 200 };
    const ep = await createEndpoint('/slow', { events: ['email.sent'] });
    await send('slow@example.test');
    const [d] = (await waitFor(
      async () => {
        const ds = await deliveries(ep.id);
        return ds[0]?.status === 'failed' ? ds : null;
      },
      'failed after the schedule',
      60_000,
    ))!;
    expect(d.attempts).toBe(4);
    expect(d.error).toBe('timed out after 1000 ms');
    expect(d.response_status).toBeNull();
  });

  it('disables an endpoint that answers 410 Gone', async () => {
    receiver.answer = (path) => (path === '/gone' ? { status: 410 } : { status: 200 });
    const ep = await createEndpoint('/gone', { events: ['email.sent'] });
    await send('gone@example.test');
    const body = await waitFor(async () => {
      const r = await auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}`)).expect(200);
      return r.body.enabled === false ? r.body : null;
    }, 'disabled');
    expect(body.disabled_reason).toBe('gone');
    await send('gone2@example.test');
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.on('/gone')).toHaveLength(1);
  });

  it('does not follow a redirect: a 3xx is a failed attempt', async () => {
    receiver.answer = (path) =>
      path === '/redirect'
        ? { status: 302, headers: { location: receiver.url('/target') } }
        : { status: 200 };
    const ep = await createEndpoint('/redirect', { events: ['email.sent'] });
    await send('redirect@example.test');
    const [d] = (await waitFor(async () => {
      const ds = await deliveries(ep.id);
      return ds[0]?.attempts ? ds : null;
    }, 'an attempt'))!;
    expect(d.response_status).toBe(302);
    expect(d.error).toBe('HTTP 302 (redirects are not followed)');
    expect(receiver.on('/target')).toHaveLength(0);
  });

  it('signs with both secrets for 24 hours after a rotation, then with the new one only', async () => {
    receiver.answer = () => ({ status: 200 });
    const ep = await createEndpoint('/rot', { events: ['email.sent'] });
    const rot = await auth(
      request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/rotate-secret`),
    ).expect(200);
    const secret2: string = rot.body.secret;
    expect(secret2).not.toBe(ep.secret);

    const during = await send('rot1@example.test');
    const [first] = (await waitFor(() => {
      const rs = receiver.on('/rot').filter((r) => JSON.parse(r.body).data.message_id === during);
      return rs.length ? rs : null;
    }, 'delivery during the overlap'))!;
    expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(secret2, first).type).toBe('email.sent');
    expect(verify(ep.secret, first).type).toBe('email.sent');

    const offset = 25 * 3600 * 1000;
    jest.spyOn(t.app.get(Clock), 'now').mockImplementation(() => new Date(Date.now() + offset));
    const after = await send('rot2@example.test');
    const [second] = (await waitFor(() => {
      const rs = receiver.on('/rot').filter((r) => JSON.parse(r.body).data.message_id === after);
      return rs.length ? rs : null;
    }, 'delivery after the overlap'))!;
    expect(String(second.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verify(secret2, second).type).toBe('email.sent');
    expect(() => verify(ep.secret, second)).toThrow();
  });

  it('disables an endpoint failing for three days, with an alert', async () => {
    receiver.answer = (path) => (path === '/down' ? { status: 500 } : { status: 200 });
    const alert = jest.spyOn(t.app.get(NotificationsService), 'alert');
    const ep = await createEndpoint('/down', { events: ['email.sent'] });
    await send('down1@example.test');
    await waitFor(async () => {
      const r = await auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}`)).expect(200);
      return r.body.health.failing_since !== null;
    }, 'the first failure recorded');
    const offset = 3 * 24 * 3600 * 1000 + 3600_000;
    jest.spyOn(t.app.get(Clock), 'now').mockImplementation(() => new Date(Date.now() + offset));
    await send('down2@example.test');
    const body = await waitFor(
      async () => {
        const r = await auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}`)).expect(
          200,
        );
        return r.body.enabled === false ? r.body : null;
      },
      'disabled after three days',
      30_000,
    );
    expect(body.disabled_reason).toBe('failing');
    expect(alert).toHaveBeenCalledWith(
      expect.objectContaining({
        key: `event-webhook-disabled:${ep.id}`,
        title: 'Event webhook endpoint disabled',
      }),
    );
  });

  it('replays the events of an outage with their original webhook-ids', async () => {
    let outage = true;
    receiver.answer = (path) => (path === '/outage' && outage ? { status: 503 } : { status: 200 });
    const ep = await createEndpoint('/outage', {
      events: ['email.delivered'],
      tags: ['outage'],
    });
    const since = new Date(Date.now() - 1000).toISOString();
    const ids = [
      await send('o1@example.test', { tag: 'outage' }),
      await send('o2@example.test', { tag: 'outage' }),
      await send('o3@example.test', { tag: 'outage' }),
    ];
    await waitFor(
      async () => {
        const ds = await deliveries(ep.id);
        return ds.length === 3 && ds.every((d) => d.status === 'failed');
      },
      'every delivery failed',
      60_000,
    );
    const failedIds = new Set(receiver.on('/outage').map((r) => String(r.headers['webhook-id'])));
    outage = false;
    const res = await auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/replay`))
      .send({ since, event_types: ['email.delivered'] })
      .expect(202);
    expect(res.body.replayed).toBe(3);
    const ok = await waitFor(async () => {
      const ds = await deliveries(ep.id);
      return ds.every((d) => d.status === 'succeeded') ? ds : null;
    }, 'replayed');
    expect(ok).toHaveLength(3);
    const replayed = about('/outage', ep.secret, () => true).slice(-3);
    expect(new Set(replayed.map(({ e }) => e.data.message_id))).toEqual(new Set(ids));
    for (const { r } of replayed) expect(failedIds.has(String(r.headers['webhook-id']))).toBe(true);
  });

  it('retries one delivery on request', async () => {
    receiver.answer = (path) => (path === '/once' ? { status: 500 } : { status: 200 });
    const ep = await createEndpoint('/once', { events: ['email.sent'] });
    await send('once@example.test');
    const [d] = (await waitFor(
      async () => {
        const ds = await deliveries(ep.id);
        return ds[0]?.status === 'failed' ? ds : null;
      },
      'failed',
      30_000,
    ))!;
    receiver.answer = () => ({ status: 204 });
    await auth(
      request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/deliveries/${String(d.id)}/retry`),
    ).expect(202);
    await waitFor(async () => (await deliveries(ep.id))[0].status === 'succeeded', 'retried');
  });

  it('shows endpoints, their health and their deliveries on the dashboard', async () => {
    receiver.answer = () => ({ status: 200 });
    const ep = await createEndpoint('/dash', {
      events: ['email.sent'],
      description: 'dashboard <b>',
    });
    await send('dash@example.test');
    await waitFor(async () => (await deliveries(ep.id))[0]?.status === 'succeeded', 'delivered');
    const basic = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
    await request(t.server).get('/dashboard/event-webhooks').expect(401);
    const list = await request(t.server)
      .get('/dashboard/event-webhooks')
      .set('Authorization', basic)
      .expect(200);
    expect(list.headers['content-security-policy']).toContain("default-src 'none'");
    expect(list.text).toContain(`data-endpoint-id="${ep.id}"`);
    expect(list.text).toContain('dashboard &lt;b&gt;');
    expect(list.text).toContain('100 %');
    const one = await request(t.server)
      .get(`/dashboard/event-webhooks/${ep.id}`)
      .set('Authorization', basic)
      .expect(200);
    expect(one.text).toContain('data-status="succeeded"');
    expect(one.text).toContain('email.sent');
    const [d] = await deliveries(ep.id);
    expect(one.text).toContain(
      `href="/dashboard/event-webhooks/${ep.id}/deliveries/${String(d.id)}"`,
    );
    const attempts = await request(t.server)
      .get(`/dashboard/event-webhooks/${ep.id}/deliveries/${String(d.id)}`)
      .set('Authorization', basic)
      .expect(200);
    expect(attempts.text).toContain('data-attempt="1"');
    expect(attempts.text).toContain('id="delivery-status">succeeded');
    await request(t.server)
      .get(`/dashboard/event-webhooks/${ep.id}/deliveries/not-an-id`)
      .set('Authorization', basic)
      .expect(404);
    await request(t.server)
      .get('/dashboard/event-webhooks/not-an-id')
      .set('Authorization', basic)
      .expect(404);
  });

  it('prunes events past EVENT_WEBHOOK_RETENTION_DAYS with their deliveries and attempts, never one still retrying', async () => {
    receiver.answer = () => ({ status: 204 });
    const ep = await createEndpoint('/prune', { events: ['email.sent'] });
    await send('prune1@example.test');
    await send('prune2@example.test');
    const ds = (await waitFor(async () => {
      const got = await deliveries(ep.id);
      return got.length === 2 && got.every((x) => x.status === 'succeeded') ? got : null;
    }, 'delivered'))!;
    // One of them still retrying (its next attempt beyond the clock moves below).
    const [retrying, done] = ds.map((x) => String(x.id));
    await t.dataSource.query(
      `UPDATE outbound_deliveries SET status = 'pending', next_attempt_at = now() + interval '100 days'
        WHERE id = $1`,
      [retrying],
    );
    const counts = async (): Promise<{ events: number; deliveries: number; attempts: number }> => {
      const [row] = await t.dataSource.query(
        `SELECT count(DISTINCT d.outbound_event_id)::int AS events, count(DISTINCT d.id)::int AS deliveries,
                (SELECT count(*)::int FROM outbound_delivery_attempts a
                  JOIN outbound_deliveries x ON x.id = a.delivery_id WHERE x.endpoint_id = $1) AS attempts
           FROM outbound_deliveries d JOIN outbound_events e ON e.id = d.outbound_event_id
          WHERE d.endpoint_id = $1`,
        [ep.id],
      );
      return row;
    };
    expect(await counts()).toEqual({ events: 2, deliveries: 2, attempts: 2 });
    const delivery = t.app.get(WebhookDeliveryService);
    const clock = jest.spyOn(t.app.get(Clock), 'now');
    const day = 24 * 3600_000;

    clock.mockImplementation(() => new Date(Date.now() + 29 * day));
    await delivery.prune(1);
    expect(await counts()).toEqual({ events: 2, deliveries: 2, attempts: 2 });

    clock.mockImplementation(() => new Date(Date.now() + 31 * day));
    await delivery.prune(1);
    expect(await counts()).toEqual({ events: 1, deliveries: 1, attempts: 1 });
    await auth(
      request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries/${done}`),
    ).expect(404);
    await auth(
      request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries/${retrying}`),
    ).expect(200);
  });

  describe('the endpoints API', () => {
    it('lists, reads, changes and deletes endpoints, never showing the secret again', async () => {
      const ep = await createEndpoint('/api', { events: ['email.bounced'], tags: ['a'] });
      const got = await auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}`)).expect(
        200,
      );
      expect(got.body).not.toHaveProperty('secret');
      expect(got.body.events).toEqual(['email.bounced']);
      const patched = await auth(request(t.server).patch(`/api/v1/webhook-endpoints/${ep.id}`))
        .send({ enabled: false, tags: null, events: null })
        .expect(200);
      expect(patched.body).toEqual(
        expect.objectContaining({ enabled: false, disabled_reason: 'manual', tags: null }),
      );
      expect(patched.body.events).toHaveLength(11);
      const page1 = await auth(request(t.server).get('/api/v1/webhook-endpoints?limit=1')).expect(
        200,
      );
      expect(page1.body.data).toHaveLength(1);
      const page2 = await auth(
        request(t.server).get(`/api/v1/webhook-endpoints?limit=1&cursor=${page1.body.next_cursor}`),
      ).expect(200);
      expect(page2.body.data[0].id).not.toBe(page1.body.data[0].id);
      await auth(request(t.server).delete(`/api/v1/webhook-endpoints/${ep.id}`)).expect(200);
      await auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}`)).expect(404);
    });

    it.each([
      ['no url', {}],
      ['a url that is not http(s)', { url: 'ftp://example.com/x' }],
      ['credentials in the url', { url: 'https://u:p@example.com/x' }],
      ['an unknown event type', { url: 'https://example.com/x', events: ['email.exploded'] }],
      ['an empty event list', { url: 'https://example.com/x', events: [] }],
      ['an unknown stream', { url: 'https://example.com/x', stream: 'bulk' }],
      ['an unknown field', { url: 'https://example.com/x', secret: 'whsec_x' }],
      ['a non-string tag', { url: 'https://example.com/x', tags: [1] }],
    ])('refuses %s with 400 validation_error', async (_what, body) => {
      const res = await auth(request(t.server).post('/api/v1/webhook-endpoints'))
        .send(body)
        .expect(400);
      expect(res.body.error.code).toBe('validation_error');
    });

    it('answers malformed ids, cursors and replay windows with a 4xx in the error shape', async () => {
      const ep = await createEndpoint('/malformed');
      const cases: Array<[request.Test, number]> = [
        [auth(request(t.server).get('/api/v1/webhook-endpoints/not-a-uuid')), 404],
        [auth(request(t.server).get('/api/v1/webhook-endpoints?cursor=garbage')), 400],
        [auth(request(t.server).get('/api/v1/webhook-endpoints?limit=0')), 400],
        [
          auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries?cursor=zz`)),
          400,
        ],
        [
          auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries?status=odd`)),
          400,
        ],
        [
          auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/deliveries/abc/retry`)),
          404,
        ],
        [auth(request(t.server).get(`/api/v1/webhook-endpoints/${ep.id}/deliveries/abc`)), 404],
        [
          auth(
            request(t.server).get(
              `/api/v1/webhook-endpoints/${ep.id}/deliveries/99999999999999999999`,
            ),
          ),
          404,
        ],
        [auth(request(t.server).get('/api/v1/webhook-endpoints/not-a-uuid/deliveries/1')), 404],
        [
          auth(
            request(t.server).post(
              `/api/v1/webhook-endpoints/${ep.id}/deliveries/99999999999999999999/retry`,
            ),
          ),
          404,
        ],
        [auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/replay`)).send({}), 400],
        [
          auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/replay`)).send({
            since: '2026-02-30T00:00:00Z',
          }),
          400,
        ],
        [
          auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/replay`)).send({
            since: new Date().toISOString(),
            until: new Date(Date.now() - 3600_000).toISOString(),
          }),
          400,
        ],
        [
          auth(request(t.server).patch(`/api/v1/webhook-endpoints/${ep.id}`)).send({
            enabled: 'yes',
          }),
          400,
        ],
        [
          auth(request(t.server).post(`/api/v1/webhook-endpoints/${ep.id}/rotate-secret`))
            .send('x')
            .type('text'),
          415,
        ],
      ];
      for (const [i, [req, status]] of cases.entries()) {
        const res = await req;
        expect({ case: i, status: res.status }).toEqual({ case: i, status });
        expect(res.body.error.code).toEqual(expect.any(String));
      }
    });

    it('needs scope full', async () => {
      const sendKey = await t.createKey('send');
      const res = await request(t.server)
        .get('/api/v1/webhook-endpoints')
        .set('Authorization', `Bearer ${sendKey}`)
        .expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });
  });
});

/** README "Security": event webhooks never reach private addresses unless allowed. */
describe(WebhookHttpClient.name, () => {
  const receiver = new WebhookReceiver();
  let client: WebhookHttpClient;

  beforeAll(async () => {
    await receiver.start();
    client = new WebhookHttpClient(loadConfig({ NODE_ENV: 'test', WEBHOOK_TIMEOUT_MS: '2000' }));
  });
  afterAll(async () => {
    await client.onApplicationShutdown();
    await receiver.stop();
  });

  it.each([
    ['a loopback address', () => receiver.url('/x')],
    ['a host name that resolves to 127.0.0.1', () => receiver.url('/x', 'localhost')],
    ['IPv6 loopback', () => receiver.url('/x', '[::1]')],
    ['an IPv4-mapped IPv6 loopback', () => receiver.url('/x', '[::ffff:127.0.0.1]')],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', () => 'http://10.1.2.3/hook'],
  ])('refuses %s when WEBHOOK_ALLOW_PRIVATE_NETWORKS is off', async (_what, url) => {
    const res = await client.post(url(), {}, '{}');
    expect(res.status).toBeNull();
    expect(res.error).toMatch(/private, loopback or link-local/);
    expect(receiver.received).toHaveLength(0);
  });

  it('reads at most 1 KB of an answer', async () => {
    const open = new WebhookHttpClient(
      loadConfig({ NODE_ENV: 'test', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }),
    );
    receiver.answer = () => ({ status: 200, body: 'x'.repeat(100_000) });
    const res = await open.post(receiver.url('/big'), {}, '{}');
    await open.onApplicationShutdown();
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1024);
  });
});
