import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import request from 'supertest';
import { BanGuard } from 'src/modules/auth/guards/ban.guard';
import { RetryService } from 'src/modules/emails/retry.service';
import { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';
import { buildArfReport, postalRawPayload } from 'test/fakes/arf-message';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import { postalDomainDnsError, postalStoredRaw, postfixBounce } from 'test/fakes/postal-payloads';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { railsJson } from 'test/fakes/rails-json';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { sleep, waitFor } from 'test/utils/wait';
import { INTERNAL_CAUSES } from 'src/modules/emails/lifecycle/transitions';

jest.setTimeout(90_000);

describe('Postal webhooks (e2e)', () => {
  let postal: FakePostal;
  let t: TestApp;
  let key: string;
  let privateKey: KeyObject;

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    postal = await new FakePostal().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      POSTAL_WEBHOOK_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      DEFAULT_FROM: 'Shop <news@shop.example>',
      DELIVERY_BACKOFF_MS: '50',
      RATE_LIMIT_IP_PER_MIN: '5',
      RATE_LIMIT_KEY_PER_MIN: '100000',
      COMPLAINT_MIN_VOLUME: '4',
      INBOUND_SECRET: 'inbound-secret-0123456789',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  /** Sends a message through the app and waits until Postal has it. */
  async function sendOne(
    extra: Record<string, unknown> = {},
  ): Promise<{ id: string; m: ReceivedMessage }> {
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .set(
        'X-Forwarded-For',
        `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
      )
      .send({ to: `w-${randomUUID().slice(0, 8)}@rcpt.example`, subject: 's', text: 'x', ...extra })
      .expect(202);
    const id = res.body.message_id as string;
    const m = (await waitFor(
      () => postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id),
      'postal got it',
    ))!;
    await waitFor(async () => (await row(id)).status === 'sent', 'sent');
    return { id, m };
  }

  async function row(id: string): Promise<Record<string, any>> {
    return (
      await t.dataSource.query('SELECT * FROM email_logs WHERE external_message_id = $1', [id])
    )[0];
  }

  async function eventTypes(id: string): Promise<string[]> {
    const rows = await t.dataSource.query(
      // The timeline as the API shows it: the worker's internal transitions left out
      // (docs/ARCHITECTURE.md "Transition events").
      `SELECT e.event_type FROM email_events e JOIN email_logs l ON l.id = e.email_log_id
        WHERE l.external_message_id = $1 AND (e.cause IS NULL OR e.cause <> ALL($2::text[]))
        ORDER BY e.occurred_at, e.id`,
      [id, INTERNAL_CAUSES],
    );
    return rows.map((r: { event_type: string }) => r.event_type);
  }

  const messageOf = (m: ReceivedMessage) => ({
    id: m.id,
    token: m.token,
    direction: 'outgoing',
    message_id: m.messageId,
    to: m.body.to[0],
    from: m.body.from,
    subject: 'Hi <there> & you',
    timestamp: Date.now() / 1000,
    spam_status: 'NotChecked',
    tag: null,
  });

  function envelope(event: string, payload: Record<string, unknown>, uuid = randomUUID()): Buffer {
    return Buffer.from(railsJson({ event, timestamp: Date.now() / 1000, payload, uuid }));
  }

  const post = (
    body: Buffer,
    headers: Record<string, string> = signPostalWebhook(body, privateKey),
  ) =>
    // As a string: superagent would serialise a Buffer as {"type":"Buffer",…}.
    request(t.server)
      .post('/api/v1/webhook')
      .set('Content-Type', 'application/json')
      .set(headers)
      .send(body.toString('utf8'));

  const delivery = (status: string, output: string, details = '') => ({
    status,
    details,
    output,
    sent_with_ssl: true,
    timestamp: Date.now() / 1000,
    time: 0.2,
  });

  async function processed(
    uuid: string,
  ): Promise<{ processed_at: Date | null; error: string | null }> {
    return waitFor(async () => {
      const r = (
        await t.dataSource.query('SELECT processed_at, error FROM webhook_events WHERE uuid = $1', [
          uuid,
        ])
      )[0];
      return r?.processed_at ? r : null;
    }, `webhook ${uuid} processed`);
  }

  describe('signature and ingestion', () => {
    it('accepts a signed event, stores it once by uuid and processes a replay once', async () => {
      const { id, m } = await sendOne();
      const uuid = randomUUID();
      const body = envelope(
        'MessageSent',
        { message: messageOf(m), ...delivery('Sent', '250 OK') },
        uuid,
      );
      expect(body.toString()).toContain('\\u003cthere\\u003e \\u0026 you');
      const res = await post(body).expect(200);
      expect(res.body).toEqual({ status: 'ok' });
      await processed(uuid);
      const again = await post(body).expect(200);
      expect(again.body).toEqual({ status: 'duplicate' });
      await sleep(300);
      expect((await eventTypes(id)).filter((e) => e === 'delivered')).toHaveLength(1);
      expect(
        (
          await t.dataSource.query(
            'SELECT count(*)::int AS n FROM webhook_events WHERE uuid = $1',
            [uuid],
          )
        )[0].n,
      ).toBe(1);
    });

    it('rejects a missing signature with 401', async () => {
      const res = await post(envelope('MessageSent', {}), {}).expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    });

    it('rejects a body changed by one byte with 401', async () => {
      const body = envelope('MessageSent', { message: { id: 1 } });
      const headers = signPostalWebhook(body, privateKey);
      const tampered = Buffer.from(body);
      tampered[tampered.length - 3] ^= 1;
      await post(tampered, headers).expect(401);
    });

    it('rejects a re-serialised body (signatures are over the raw bytes)', async () => {
      const body = envelope('MessageSent', { message: { subject: '<b>' } });
      const headers = signPostalWebhook(body, privateKey);
      await post(Buffer.from(JSON.stringify(JSON.parse(body.toString()))), headers).expect(401);
    });

    it('accepts the SHA-1 signature alone (older Postal)', async () => {
      const body = envelope('MessageLoaded', { message: { id: 999_999_999 } });
      const { 'X-Postal-Signature': sha1 } = signPostalWebhook(body, privateKey);
      await post(body, { 'X-Postal-Signature': sha1 }).expect(200);
    });

    it('answers malformed envelopes with 400 (signed garbage is still garbage)', async () => {
      for (const raw of [
        'not json',
        '[]',
        '{"event":"MessageSent"}',
        '{"uuid":"u","event":"MessageSent","payload":[]}',
      ]) {
        const body = Buffer.from(raw);
        const res = await post(body).expect(400);
        expect(res.body.error.code).toBe('validation_error');
      }
    });

    it('is not throttled per IP (Postal sends everything from one address)', async () => {
      for (let i = 0; i < 12; i++)
        await post(envelope('MessageLoaded', { message: { id: 123_456_789 + i } })).expect(200);
    });

    it('stores an event for an unknown message with unknown_message and answers 200', async () => {
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageSent',
          {
            message: { id: 424242, token: 'nope', message_id: 'nope@x' },
            ...delivery('Sent', '250'),
          },
          uuid,
        ),
      ).expect(200);
      const r = await waitFor(
        async () => {
          const x = (
            await t.dataSource.query(
              'SELECT processed_at, error FROM webhook_events WHERE uuid = $1',
              [uuid],
            )
          )[0];
          return x?.processed_at ? x : null;
        },
        'processed',
        20_000,
        200,
      );
      expect(r.error).toBe('unknown_message');
    });
  });

  describe('the ingest lane (docs/ARCHITECTURE.md "The HTTP edge")', () => {
    const laneSamples = async (status: string): Promise<number> => {
      const text = (await request(t.server).get('/metrics').expect(200)).text;
      const line = text
        .split('\n')
        .find((l) =>
          l.startsWith(
            `http_request_duration_seconds_count{method="POST",route="/api/v1/webhook",status="${status}"}`,
          ),
        );
      return line ? Number(line.split(' ').pop()) : 0;
    };
    afterEach(() => jest.restoreAllMocks());

    it('answers a signed event itself: edge headers, one verification, the route metric, no guards', async () => {
      const before = await laneSamples('200');
      const verify = jest.spyOn(t.app.get(WebhookSignatureVerifier), 'verify');
      const guard = jest.spyOn(t.app.get(BanGuard), 'canActivate');
      const uuid = randomUUID();
      const res = await post(envelope('MessageLoaded', { message: { id: 999_999_998 } }, uuid))
        .set('X-Request-Id', 'lane-req-1')
        .expect(200);
      expect(res.body).toEqual({ status: 'ok' });
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-request-id']).toBe('lane-req-1');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(verify).toHaveBeenCalledTimes(1);
      expect(guard).not.toHaveBeenCalled();
      guard.mockRestore();
      expect(await laneSamples('200')).toBe(before + 1);
      await processed(uuid);
    });

    it('hands everything else to the route, which answers as before and verifies nothing twice', async () => {
      const verify = jest.spyOn(t.app.get(WebhookSignatureVerifier), 'verify');
      const guard = jest.spyOn(t.app.get(BanGuard), 'canActivate');
      const body = envelope('MessageSent', { message: { id: 1 } });
      const headers = signPostalWebhook(body, privateKey);
      const tampered = Buffer.from(body);
      tampered[tampered.length - 3] ^= 1;
      const bad = await post(tampered, headers).expect(401);
      expect(bad.body.error.code).toBe('unauthorized');
      expect(bad.body.request_id).toBe(bad.headers['x-request-id']);
      expect(verify).toHaveBeenCalledTimes(1);
      expect(guard).toHaveBeenCalledTimes(1);

      // A query string is not the lane's: the route takes it (and stores the event).
      const queried = randomUUID();
      const signed = envelope('MessageLoaded', { message: { id: 999_999_997 } }, queried);
      await request(t.server)
        .post('/api/v1/webhook?from=postal')
        .set('Content-Type', 'application/json')
        .set(signPostalWebhook(signed, privateKey))
        .send(signed.toString('utf8'))
        .expect(200, { status: 'ok' });
      expect(guard).toHaveBeenCalledTimes(2);
      await processed(queried);
    });

    it('a failed write goes to the route, which tries once more and answers in the error shape', async () => {
      const receive = jest
        .spyOn(t.app.get(WebhooksService), 'receive')
        .mockRejectedValueOnce(new Error('connection lost'));
      const uuid = randomUUID();
      await post(envelope('MessageLoaded', { message: { id: 999_999_996 } }, uuid)).expect(200, {
        status: 'ok',
      });
      expect(receive).toHaveBeenCalledTimes(2);
      await processed(uuid);
    });
  });

  describe('events', () => {
    it('MessageSent → delivered, matched by Postal id', async () => {
      const { id, m } = await sendOne();
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageSent',
          { message: messageOf(m), ...delivery('Sent', '250 2.0.0 OK') },
          uuid,
        ),
      ).expect(200);
      await processed(uuid);
      const r = await row(id);
      expect(r.status).toBe('delivered');
      expect(r.delivered_at).not.toBeNull();
    });

    it('matches by token, then by Postal message_id, when the id is absent', async () => {
      const a = await sendOne();
      const u1 = randomUUID();
      await post(
        envelope('MessageSent', { message: { token: a.m.token }, ...delivery('Sent', '250') }, u1),
      ).expect(200);
      await processed(u1);
      expect((await row(a.id)).status).toBe('delivered');
      const b = await sendOne();
      const u2 = randomUUID();
      await post(
        envelope(
          'MessageSent',
          { message: { message_id: b.m.messageId }, ...delivery('Sent', '250') },
          u2,
        ),
      ).expect(200);
      await processed(u2);
      expect((await row(b.id)).status).toBe('delivered');
    });

    it('MessageDelayed → a delayed event only, no resend; a 421 halves the domain rate', async () => {
      const { id, m } = await sendOne({ to: `d-${randomUUID().slice(0, 6)}@throttle.example` });
      const before = postal.attempts;
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageDelayed',
          {
            message: messageOf(m),
            ...delivery(
              'SoftFail',
              '421 4.7.0 Try again later, closing connection.',
              'Temporary SMTP delivery error',
            ),
          },
          uuid,
        ),
      ).expect(200);
      await processed(uuid);
      expect((await row(id)).status).toBe('sent');
      expect(await eventTypes(id)).toEqual(['queued', 'sent', 'delayed']);
      const rc = await request(t.server)
        .get('/api/v1/rate-control')
        .set('Authorization', `Bearer ${key}`)
        .expect(200);
      expect(rc.body.domains).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ domain: 'throttle.example', factor: 0.5 }),
        ]),
      );
      await sleep(300);
      expect(postal.attempts).toBe(before);
    });

    it('ignores a late MessageDelayed after MessageSent (never backwards)', async () => {
      const { id, m } = await sendOne();
      const u1 = randomUUID();
      await post(
        envelope('MessageSent', { message: messageOf(m), ...delivery('Sent', '250') }, u1),
      ).expect(200);
      await processed(u1);
      const u2 = randomUUID();
      await post(
        envelope(
          'MessageDelayed',
          { message: messageOf(m), ...delivery('SoftFail', '451 4.3.0 later') },
          u2,
        ),
      ).expect(200);
      await processed(u2);
      expect((await row(id)).status).toBe('delivered');
      expect(await eventTypes(id)).toEqual(['queued', 'sent', 'delivered']);
    });

    it('MessageDeliveryFailed with an invalid address → hard bounce, suppressed', async () => {
      const { id, m } = await sendOne();
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageDeliveryFailed',
          {
            message: messageOf(m),
            ...delivery(
              'HardFail',
              '550 5.1.1 <x@rcpt.example>: Recipient address rejected: User unknown in virtual mailbox table',
              'Permanent SMTP delivery error when sending to mx.rcpt.example',
            ),
          },
          uuid,
        ),
      ).expect(200);
      await processed(uuid);
      const r = await row(id);
      expect(r).toEqual(
        expect.objectContaining({
          status: 'bounced',
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
          smtp_code: '550',
          next_retry_at: null,
        }),
      );
      const again = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .set('X-Forwarded-For', '10.8.0.1')
        .send({ to: r.recipient.toUpperCase(), subject: 's', text: 'x' })
        .expect(422);
      expect(again.body.error.reason).toBe('hard_bounce');
    });

    it('a soft bounce is retried after 1 h, 4 h and 24 h through the pipeline, then left bounced', async () => {
      const { id, m } = await sendOne();
      const retries = t.app.get(RetryService);
      const expected = [3600, 4 * 3600, 24 * 3600];
      let last = m;
      for (let i = 0; i < 4; i++) {
        const uuid = randomUUID();
        await post(
          envelope(
            'MessageDeliveryFailed',
            {
              message: messageOf(last),
              ...delivery(
                'HardFail',
                '452 4.2.2 The email account that you tried to reach is over quota',
                'Temporary',
              ),
            },
            uuid,
          ),
        ).expect(200);
        await processed(uuid);
        const r = await row(id);
        expect(r.bounce_type).toBe('soft');
        expect(r.bounce_reason).toBe('mailbox_full');
        if (i === 3) {
          expect(r.status).toBe('bounced');
          expect(r.retry_count).toBe(3);
          break;
        }
        expect(r.status).toBe('retry_scheduled');
        const inS = (new Date(r.next_retry_at).getTime() - Date.now()) / 1000;
        expect(inS).toBeGreaterThan(expected[i] - 60);
        expect(inS).toBeLessThanOrEqual(expected[i]);
        // Not due yet: nothing happens.
        await expect(retries.requeueDue()).resolves.toEqual({ requeued: 0, suppressed: 0 });
        await t.dataSource.query(
          `UPDATE email_logs SET next_retry_at = now() - interval '1 second' WHERE id = $1`,
          [r.id],
        );
        const sentBefore = postal.received.filter(
          (x) => x.body.headers?.['X-Email-Id'] === id,
        ).length;
        await expect(retries.requeueDue()).resolves.toEqual({ requeued: 1, suppressed: 0 });
        last = (await waitFor(() => {
          const all = postal.received.filter((x) => x.body.headers?.['X-Email-Id'] === id);
          return all.length === sentBefore + 1 ? all[all.length - 1] : undefined;
        }, 're-sent'))!;
        await waitFor(async () => (await row(id)).status === 'sent', 'sent again');
        expect((await row(id)).retry_count).toBe(i + 1);
      }
      const types = await eventTypes(id);
      expect(types.filter((e) => e === 'retry_scheduled')).toHaveLength(3);
      expect(types.filter((e) => e === 'sent')).toHaveLength(4);
    });

    it('re-checks suppression before a retry: a suppressed recipient fails', async () => {
      const { id, m } = await sendOne();
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageDeliveryFailed',
          {
            message: messageOf(m),
            ...delivery('HardFail', '421 4.7.0 Too many connections, slow down'),
          },
          uuid,
        ),
      ).expect(200);
      await processed(uuid);
      const r = await row(id);
      expect(r.status).toBe('retry_scheduled');
      await request(t.server)
        .post('/api/v1/blacklist')
        .set('Authorization', `Bearer ${key}`)
        .set('X-Forwarded-For', '10.8.0.2')
        .send({ email: r.recipient, reason: 'manual' })
        .expect(201);
      await t.dataSource.query(
        `UPDATE email_logs SET next_retry_at = now() - interval '1 second' WHERE id = $1`,
        [r.id],
      );
      await expect(t.app.get(RetryService).requeueDue()).resolves.toEqual({
        requeued: 0,
        suppressed: 1,
      });
      expect(await row(id)).toEqual(
        expect.objectContaining({ status: 'failed', error_message: 'Recipient blacklisted' }),
      );
    });

    it('MessageHeld → held', async () => {
      const { id, m } = await sendOne();
      const uuid = randomUUID();
      await post(
        envelope(
          'MessageHeld',
          {
            message: messageOf(m),
            ...delivery('Held', '', 'Recipient is on the suppression list'),
          },
          uuid,
        ),
      ).expect(200);
      await processed(uuid);
      expect((await row(id)).status).toBe('held');
    });

    it('MessageBounced → the bounce is fetched from Postal (raw message) and classified', async () => {
      const a = await sendOne();
      // As Postal stores the bounce it received (lib/postal/message_db/message.rb raw_message).
      postal.rawMessages.set(
        777001,
        postalStoredRaw(
          postfixBounce({
            recipient: a.m.body.to[0],
            token: a.m.token,
            status: '5.1.1',
            remoteMta: 'dns; mx.example',
            diagnosticCode: 'smtp; 550 5.1.1 <x@y>: Recipient address rejected: User unknown',
            humanLine:
              '<x@y>: host mx.example said: 550 5.1.1 <x@y>: Recipient address rejected: User unknown',
          }),
        ),
      );
      const u1 = randomUUID();
      await post(
        envelope(
          'MessageBounced',
          {
            original_message: messageOf(a.m),
            bounce: {
              id: 777001,
              token: 'b',
              direction: 'incoming',
              message_id: 'b@x',
              to: 'x',
              from: 'y',
              subject: 'Undelivered',
              timestamp: 1,
              spam_status: 'NotChecked',
              tag: null,
            },
          },
          u1,
        ),
      ).expect(200);
      await processed(u1);
      expect(await row(a.id)).toEqual(
        expect.objectContaining({
          status: 'bounced',
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
        }),
      );

      const b = await sendOne();
      const u2 = randomUUID();
      await post(
        envelope(
          'MessageBounced',
          { original_message: messageOf(b.m), bounce: { id: 777999 } },
          u2,
        ),
      ).expect(200);
      await processed(u2);
      expect(await row(b.id)).toEqual(
        expect.objectContaining({ bounce_type: 'soft', bounce_reason: 'unknown' }),
      );
    });

    it('MessageLinkClicked / MessageLoaded → clicked / opened events from Postal', async () => {
      const { id, m } = await sendOne();
      const u1 = randomUUID();
      await post(
        envelope(
          'MessageLinkClicked',
          {
            message: messageOf(m),
            url: 'https://shop.example/x',
            token: 'l',
            ip_address: '203.0.113.9',
            user_agent: 'Mail',
          },
          u1,
        ),
      ).expect(200);
      const u2 = randomUUID();
      await post(
        envelope(
          'MessageLoaded',
          { message: messageOf(m), ip_address: '203.0.113.9', user_agent: 'Mail' },
          u2,
        ),
      ).expect(200);
      await processed(u1);
      await processed(u2);
      const r = await row(id);
      expect(r.opened_at).not.toBeNull();
      expect(r.clicked_at).not.toBeNull();
      const details = await t.dataSource.query(
        `SELECT e.event_type, e.details FROM email_events e WHERE e.email_log_id = $1 AND e.event_type IN ('opened','clicked') ORDER BY e.id`,
        [r.id],
      );
      expect(details.map((d: any) => [d.event_type, d.details.source])).toEqual([
        ['clicked', 'postal'],
        ['opened', 'postal'],
      ]);
      expect(details[0].details.url).toBe('https://shop.example/x');
    });

    it.each([
      [
        'DomainDNSError',
        // app/models/concerns/has_dns_checks.rb: `domain` is the name, checks at the top level.
        postalDomainDnsError('shop.example', {
          spf: { status: 'Missing', error: 'No SPF record exists for this domain' },
        }),
        'critical',
      ],
      ['SendLimitApproaching', { server: { name: 'Main' }, volume: 900, limit: 1000 }, 'warning'],
      ['SendLimitExceeded', { server: { name: 'Main' }, volume: 1001, limit: 1000 }, 'critical'],
    ])('%s → a diagnostic report', async (event, payload, severity) => {
      const uuid = randomUUID();
      await post(envelope(event, payload as Record<string, unknown>, uuid)).expect(200);
      await processed(uuid);
      const reports = await t.dataSource.query(
        `SELECT severity, summary, fingerprint FROM diagnostic_reports WHERE fingerprint LIKE $1`,
        [`postal:${event}:%`],
      );
      expect(reports).toHaveLength(1);
      expect(reports[0].severity).toBe(severity);
      // The same open problem is updated, not reported again.
      const again = randomUUID();
      await post(envelope(event, payload as Record<string, unknown>, again)).expect(200);
      await processed(again);
      expect(
        await t.dataSource.query(`SELECT id FROM diagnostic_reports WHERE fingerprint LIKE $1`, [
          `postal:${event}:%`,
        ]),
      ).toHaveLength(1);
    });
  });

  describe('POST /api/v1/complaints', () => {
    const complain = (body: object) =>
      request(t.server)
        .post('/api/v1/complaints')
        .set('Authorization', `Bearer ${key}`)
        .set('X-Forwarded-For', `10.7.${Math.floor(Math.random() * 250)}.1`)
        .send(body);

    it('marks the message complained and suppresses the address', async () => {
      const { id } = await sendOne();
      const res = await complain({ message_id: id, source: 'gmail-fbl' }).expect(200);
      expect(res.body).toEqual({
        email: expect.any(String),
        message_id: id,
        complained: true,
        suppressed: true,
      });
      expect((await row(id)).status).toBe('complained');
      const again = await complain({ message_id: id }).expect(200);
      expect(again.body.complained).toBe(false);
      const blocked = await request(t.server)
        .get('/api/v1/blacklist/check')
        .query({ email: res.body.email })
        .set('Authorization', `Bearer ${key}`)
        .set('X-Forwarded-For', '10.7.0.9')
        .expect(200);
      expect(blocked.body).toEqual(expect.objectContaining({ blocked: true, reason: 'complaint' }));
    });

    it('finds the newest message by address', async () => {
      const { id } = await sendOne();
      const email = (await row(id)).recipient;
      const res = await complain({ email: email.toUpperCase() }).expect(200);
      expect(res.body.message_id).toBe(id);
    });

    it('rejects a request with neither message_id nor email, and answers 404 for an unknown message', async () => {
      expect((await complain({}).expect(400)).body.error.code).toBe('validation_error');
      expect((await complain({ message_id: randomUUID() }).expect(404)).body.error.code).toBe(
        'not_found',
      );
    });

    it('raises a critical report when a campaign complaint rate passes 0.5 % (with enough volume)', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await sendOne({ campaign_id: 'loud' })).id);
      await complain({ message_id: ids[0] }).expect(200);
      const reports = await t.dataSource.query(
        `SELECT severity, stats FROM diagnostic_reports WHERE fingerprint = 'campaign-complaint-rate:loud'`,
      );
      expect(reports).toHaveLength(1);
      expect(reports[0].severity).toBe('critical');
      expect(reports[0].stats).toEqual(expect.objectContaining({ sent: 4, complained: 1 }));
    });
  });
});

describe('ARF complaint reports at /api/v1/inbound/postal (e2e)', () => {
  // Uses the suite above's helpers through a small app of its own.
  let postal: FakePostal;
  let t: TestApp;
  let key: string;
  let privateKey: KeyObject;

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    postal = await new FakePostal().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      POSTAL_WEBHOOK_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      DEFAULT_FROM: 'Shop <news@shop.example>',
      INBOUND_SECRET: 'inbound-secret-0123456789',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  async function sent(): Promise<{ id: string; m: ReceivedMessage; recipient: string }> {
    const recipient = `arf-${randomUUID().slice(0, 8)}@isp.example`;
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to: recipient, subject: 's', text: 'x' })
      .expect(202);
    const id = res.body.message_id as string;
    const m = (await waitFor(
      () => postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id),
      'sent',
    ))!;
    await waitFor(
      async () =>
        (
          await t.dataSource.query(`SELECT status FROM email_logs WHERE external_message_id = $1`, [
            id,
          ])
        )[0].status === 'sent',
      'sent',
    );
    return { id, m, recipient };
  }

  const status = async (id: string) =>
    (
      await t.dataSource.query('SELECT status FROM email_logs WHERE external_message_id = $1', [id])
    )[0].status;

  it('matches an ARF report by X-Email-Id and records the complaint (path token)', async () => {
    const { id, recipient } = await sent();
    const raw = buildArfReport({
      emailId: id,
      recipient,
      feedbackType: 'abuse',
      userAgent: 'SomeISP FBL/1.0',
    });
    const res = await request(t.server)
      .post('/api/v1/inbound/postal/inbound-secret-0123456789')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(postalRawPayload(raw)))
      .expect(200);
    expect(res.body).toEqual({ status: 'complained', message_id: id });
    expect(await status(id)).toBe('complained');
    const ev = await t.dataSource.query(
      `SELECT e.details FROM email_events e JOIN email_logs l ON l.id = e.email_log_id WHERE l.external_message_id = $1 AND e.event_type = 'complained'`,
      [id],
    );
    expect(ev[0].details).toEqual(
      expect.objectContaining({
        source: 'arf',
        feedback_type: 'abuse',
        user_agent: 'SomeISP FBL/1.0',
      }),
    );
  });

  it('falls back to the original Message-ID and accepts a Postal signature instead of the token', async () => {
    const { id, m, recipient } = await sent();
    const raw = buildArfReport({ emailId: null, messageId: m.messageId, recipient });
    const body = JSON.stringify(postalRawPayload(raw));
    const res = await request(t.server)
      .post('/api/v1/inbound/postal')
      .set('Content-Type', 'application/json')
      .set(signPostalWebhook(Buffer.from(body), privateKey))
      .send(body)
      .expect(200);
    expect(res.body).toEqual({ status: 'complained', message_id: id });
  });

  it('refuses a wrong token or no authentication with 401', async () => {
    const body = JSON.stringify(
      postalRawPayload(buildArfReport({ emailId: randomUUID(), recipient: 'a@b.example' })),
    );
    await request(t.server)
      .post('/api/v1/inbound/postal/wrong-token-0123456789')
      .set('Content-Type', 'application/json')
      .send(body)
      .expect(401);
    await request(t.server)
      .post('/api/v1/inbound/postal')
      .set('Content-Type', 'application/json')
      .send(body)
      .expect(401);
  });

  it('accepts (200) and ignores mail that is not a report, so Postal does not retry it', async () => {
    const raw =
      'From: someone@else.example\r\nTo: fbl@sender.example\r\nSubject: hello\r\n\r\nBuy now\r\n';
    const res = await request(t.server)
      .post('/api/v1/inbound/postal/inbound-secret-0123456789')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(postalRawPayload(raw)))
      .expect(200);
    expect(res.body.status).toBe('ignored');
  });
});

describe('webhook verification not configured (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await bootTestApp({});
  });
  afterAll(() => t.close());

  it('answers 500 (and logs) when no key source is configured', async () => {
    const res = await request(t.server)
      .post('/api/v1/webhook')
      .set('Content-Type', 'application/json')
      .set('X-Postal-Signature-256', 'AAAA')
      .send('{"event":"MessageSent","payload":{},"uuid":"x"}')
      .expect(500);
    expect(res.body.error.code).toBe('internal_error');
  });
});
