import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import request from 'supertest';
import { PostalEventsService } from 'src/modules/emails/lifecycle/postal/postal-events.service';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import {
  PostalMessageHash,
  postalDomainDnsError,
  postalMaxAttemptsFailure,
  postalSpamFailure,
  postalStoredRaw,
  postfixBounce,
} from 'test/fakes/postal-payloads';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { railsJson } from 'test/fakes/rails-json';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';
import { INTERNAL_CAUSES } from 'src/modules/emails/lifecycle/transitions';

jest.setTimeout(90_000);

const DAY_MS = 24 * 3600 * 1000;

/**
 * Postal's events as Postal's own code builds them (each test cites the Postal file), through
 * the real webhook endpoint, queue and worker.
 */
describe('Postal events, exactly as Postal sends them (e2e)', () => {
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
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  async function sendOne(): Promise<{ id: string; m: ReceivedMessage; recipient: string }> {
    const recipient = `pe-${randomUUID().slice(0, 8)}@rcpt.example`;
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to: recipient, subject: 's', text: 'x' })
      .expect(202);
    const id = res.body.message_id as string;
    const m = (await waitFor(
      () => postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id),
      'postal got it',
    ))!;
    await waitFor(async () => (await row(id)).status === 'sent', 'sent');
    return { id, m, recipient };
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

  /** `Message#webhook_hash` (lib/postal/message_db/message.rb). */
  const messageOf = (m: ReceivedMessage): PostalMessageHash => ({
    id: m.id,
    token: m.token,
    direction: 'outgoing',
    message_id: m.messageId,
    to: m.body.to[0],
    from: 'news@shop.example',
    subject: 's',
    timestamp: Date.now() / 1000,
    spam_status: 'NotChecked',
    tag: null,
  });

  function envelope(event: string, payload: Record<string, unknown>, uuid: string): Buffer {
    return Buffer.from(railsJson({ event, timestamp: Date.now() / 1000, payload, uuid }));
  }

  async function post(event: string, payload: Record<string, unknown>): Promise<string> {
    const uuid = randomUUID();
    const body = envelope(event, payload, uuid);
    await request(t.server)
      .post('/api/v1/webhook')
      .set('Content-Type', 'application/json')
      .set(signPostalWebhook(body, privateKey))
      .send(body.toString('utf8'))
      .expect(200);
    return uuid;
  }

  async function processed(uuid: string): Promise<{ error: string | null }> {
    return waitFor(
      async () => {
        const r = (
          await t.dataSource.query(
            'SELECT processed_at, error FROM webhook_events WHERE uuid = $1',
            [uuid],
          )
        )[0];
        return r?.processed_at ? r : null;
      },
      `webhook ${uuid} processed`,
      30_000,
      100,
    );
  }

  async function suppression(email: string): Promise<Record<string, any> | undefined> {
    return (
      await t.dataSource.query('SELECT * FROM blacklists WHERE email = $1', [email.toLowerCase()])
    )[0];
  }

  describe('DomainDNSError (app/models/concerns/has_dns_checks.rb)', () => {
    it('writes one report per domain, naming each failing record and Postal’s error', async () => {
      const a = `a-${randomUUID().slice(0, 6)}.example`;
      const b = `b-${randomUUID().slice(0, 6)}.example`;
      const u1 = await post(
        'DomainDNSError',
        postalDomainDnsError(a, {
          spf: { status: 'Missing', error: 'No SPF record exists for this domain' },
          dkim: {
            status: 'Invalid',
            error: `The DKIM record at postal-AbC123._domainkey.${a} does not match the record we have provided. Please check it has been copied correctly.`,
          },
          // dns_ok? accepts a missing MX or return path: reported, but not a failure.
          mx: { status: 'Missing', error: `There are no MX records for ${a}` },
        }),
      );
      const u2 = await post(
        'DomainDNSError',
        postalDomainDnsError(b, {
          return_path: {
            status: 'Invalid',
            error: `There is a CNAME record at psrp.${b} but it points to wrong.example which is incorrect. It should point to rp.postal.example.com.`,
          },
        }),
      );
      await processed(u1);
      await processed(u2);
      const reports: Array<Record<string, any>> = await t.dataSource.query(
        `SELECT fingerprint, severity, summary, anomalies, recommended_actions
           FROM diagnostic_reports WHERE fingerprint LIKE 'postal:DomainDNSError:%' ORDER BY id`,
      );
      expect(reports.map((r) => r.fingerprint)).toEqual([
        `postal:DomainDNSError:${a}`,
        `postal:DomainDNSError:${b}`,
      ]);
      const [ra, rb] = reports;
      expect(ra.severity).toBe('critical');
      expect(ra.summary).toContain(a);
      expect(ra.summary).toContain('SPF');
      expect(ra.summary).toContain('DKIM');
      expect(ra.summary).not.toContain('MX');
      expect(ra.anomalies[0]).toEqual(
        expect.objectContaining({
          type: 'postal_dns_error',
          domain: a,
          problems: [
            { record: 'spf', status: 'Missing', error: 'No SPF record exists for this domain' },
            expect.objectContaining({ record: 'dkim', status: 'Invalid' }),
          ],
        }),
      );
      expect(JSON.stringify(ra.recommended_actions)).toContain(
        'No SPF record exists for this domain',
      );
      expect(rb.summary).toContain(b);
      expect(rb.summary).toContain('return path');
      expect(rb.anomalies[0].problems).toEqual([
        expect.objectContaining({
          record: 'return_path',
          status: 'Invalid',
          error: expect.stringContaining('points to wrong.example'),
        }),
      ]);
      expect(JSON.stringify(rb)).not.toContain('unknown domain');
    });
  });

  describe('MessageBounced: the stored bounce is read as MIME (lib/postal/message_db/message.rb bounce!)', () => {
    let nextBounceId = 880_000;

    /** The bounce Postal received for `m`, stored the way Postal stores it. */
    function storeBounce(m: ReceivedMessage, dsn: Parameters<typeof postfixBounce>[0]): number {
      const id = nextBounceId++;
      postal.rawMessages.set(id, postalStoredRaw(postfixBounce(dsn)));
      return id;
    }

    /** `bounce: bounce_message.webhook_hash` — the incoming bounce message. */
    const bouncePayload = (m: ReceivedMessage, bounceId: number) => ({
      original_message: messageOf(m),
      bounce: {
        id: bounceId,
        token: `b${bounceId}`,
        direction: 'incoming',
        message_id: `20240428100000.${bounceId}@mx.rcpt.example`,
        to: `${m.token}@psrp.postal.example`,
        from: '',
        subject: 'Undelivered Mail Returned to Sender',
        timestamp: Date.now() / 1000,
        spam_status: 'NotChecked',
        tag: null,
      },
    });

    it('classifies a Postfix bounce from its DSN Status 5.1.1 (hard, suppressed), with the real diagnostic', async () => {
      const { id, m, recipient } = await sendOne();
      const local = recipient.split('@')[0];
      const bounceId = storeBounce(m, {
        recipient,
        token: m.token,
        status: '5.1.1',
        diagnosticCode: `X-Postfix; unknown user: "${local}"`,
        humanLine: `<${recipient}>: unknown user: "${local}"`,
      });
      const uuid = await post('MessageBounced', bouncePayload(m, bounceId));
      await processed(uuid);
      const r = await row(id);
      expect(r).toEqual(
        expect.objectContaining({
          status: 'bounced',
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
          next_retry_at: null,
        }),
      );
      expect(r.error_message).toContain(`unknown user: "${local}"`);
      expect(await suppression(recipient)).toEqual(
        expect.objectContaining({ reason: 'hard_bounce', expires_at: null }),
      );
      const ev = await t.dataSource.query(
        `SELECT details FROM email_events WHERE email_log_id = $1 AND event_type = 'bounced'`,
        [r.id],
      );
      expect(ev[0].details).toEqual(
        expect.objectContaining({
          bounce_id: bounceId,
          dsn_status: '5.1.1',
          dsn_action: 'failed',
          enhanced_code: '5.1.1',
        }),
      );
    });

    it('a notification text that names no cause (what plain_body gives) is hard from its DSN 5.1.1, not a retried soft bounce', async () => {
      const { id, m, recipient } = await sendOne();
      const bounceId = storeBounce(m, {
        recipient,
        token: m.token,
        status: '5.1.1',
        remoteMta: 'dns; mx.rcpt.example',
        diagnosticCode: `smtp; 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown in local recipient table`,
        humanLine: '',
      });
      const uuid = await post('MessageBounced', bouncePayload(m, bounceId));
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
      expect(r.error_message).toBe(
        `550 5.1.1 <${recipient}>: Recipient address rejected: User unknown in local recipient table`,
      );
    });

    it('uses the DSN Status over a vague human text, and keeps Remote-MTA and Diagnostic-Code', async () => {
      const { id, m, recipient } = await sendOne();
      const bounceId = storeBounce(m, {
        recipient,
        token: m.token,
        status: '4.2.2',
        action: 'failed',
        remoteMta: 'dns; mx.rcpt.example',
        diagnosticCode: 'smtp; 552 4.2.2 Mailbox full',
        humanLine: `<${recipient}>: delivery temporarily suspended: host mx.rcpt.example[192.0.2.25] refused to talk to me`,
      });
      const uuid = await post('MessageBounced', bouncePayload(m, bounceId));
      await processed(uuid);
      const r = await row(id);
      expect(r).toEqual(
        expect.objectContaining({
          status: 'retry_scheduled',
          bounce_type: 'soft',
          bounce_reason: 'mailbox_full',
        }),
      );
      expect(r.error_message).toContain('552 4.2.2 Mailbox full');
      const ev = await t.dataSource.query(
        `SELECT details FROM email_events WHERE email_log_id = $1 AND event_type = 'bounced'`,
        [r.id],
      );
      expect(ev[0].details).toEqual(
        expect.objectContaining({ remote_mta: 'mx.rcpt.example', dsn_status: '4.2.2' }),
      );
    });

    it('a DSN with Action: delayed is a deferral, not a bounce (no resend)', async () => {
      const { id, m, recipient } = await sendOne();
      const bounceId = storeBounce(m, {
        recipient,
        token: m.token,
        status: '4.4.1',
        action: 'delayed',
        diagnosticCode:
          'X-Postfix; connect to mx.rcpt.example[192.0.2.25]:25: Connection timed out',
        humanLine: `<${recipient}>: connect to mx.rcpt.example[192.0.2.25]:25: Connection timed out`,
      });
      const uuid = await post('MessageBounced', bouncePayload(m, bounceId));
      await processed(uuid);
      expect((await row(id)).status).toBe('sent');
      expect(await eventTypes(id)).toEqual(['queued', 'sent', 'delayed']);
    });

    it('Postal down: the job is retried and classifies the bounce once Postal answers', async () => {
      const { id, m, recipient } = await sendOne();
      const bounceId = storeBounce(m, {
        recipient,
        token: m.token,
        status: '5.1.1',
        remoteMta: 'dns; mx.rcpt.example',
        diagnosticCode: `smtp; 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown in virtual mailbox table`,
        humanLine: `<${recipient}>: host mx.rcpt.example[192.0.2.25] said: 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)`,
      });
      await postal.goDown('http-503');
      const lookupsBefore = postal.messageLookups;
      let uuid: string;
      try {
        uuid = await post('MessageBounced', bouncePayload(m, bounceId));
        await waitFor(() => postal.messageLookups > lookupsBefore, 'bounce lookup tried');
        // Not classified from a guess while Postal is unreachable.
        const stored = (
          await t.dataSource.query('SELECT processed_at FROM webhook_events WHERE uuid = $1', [
            uuid,
          ])
        )[0];
        expect(stored.processed_at).toBeNull();
        expect((await row(id)).status).toBe('sent');
      } finally {
        await postal.comeUp();
      }
      await processed(uuid);
      expect(await row(id)).toEqual(
        expect.objectContaining({ status: 'bounced', bounce_type: 'hard' }),
      );
    });

    it('no stored bounce (MessageNotFound): falls back to the webhook’s own fields, never loses the event', async () => {
      const { id, m } = await sendOne();
      const uuid = await post('MessageBounced', bouncePayload(m, 999_999_001));
      const r0 = await processed(uuid);
      expect(r0.error).toBeNull();
      const r = await row(id);
      expect(r).toEqual(expect.objectContaining({ bounce_type: 'soft', bounce_reason: 'unknown' }));
      expect(r.error_message).toContain('Undelivered Mail Returned to Sender');
    });

    it('on the job’s last attempt, an unreachable Postal falls back instead of failing', async () => {
      const { id, m } = await sendOne();
      await postal.goDown('http-503');
      try {
        const result = await t.app
          .get(PostalEventsService)
          .process('MessageBounced', bouncePayload(m, 999_999_002), {
            source: 'postal',
            finalAttempt: true,
          } as Parameters<PostalEventsService['process']>[2]);
        expect(result.outcome).toBe('retry_scheduled');
      } finally {
        await postal.comeUp();
      }
      expect((await row(id)).bounce_reason).toBe('unknown');
    });
  });

  describe('Postal’s own final failures', () => {
    it('max attempts (app/lib/message_dequeuer/single_message_processor.rb): failed, not retried, suppressed like Postal for 30 days', async () => {
      const { id, m, recipient } = await sendOne();
      const uuid = await post('MessageDeliveryFailed', postalMaxAttemptsFailure(messageOf(m)));
      await processed(uuid);
      const r = await row(id);
      expect(r).toEqual(
        expect.objectContaining({
          status: 'failed',
          bounce_reason: 'expired',
          next_retry_at: null,
          retry_count: 0,
        }),
      );
      expect(r.error_message).toContain(
        'Maximum number of delivery attempts (18) has been reached',
      );
      const s = await suppression(recipient);
      expect(s).toEqual(expect.objectContaining({ reason: 'hard_bounce', source: 'postal' }));
      expect(s!.details).toContain('too many soft fails');
      // lib/postal/message_db/suppression_list.rb: keep_until = 30 days from now (default).
      const days = (new Date(s!.expires_at).getTime() - Date.now()) / DAY_MS;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThanOrEqual(30);
      const again = await request(t.server)
        .post('/api/v1/send')
        .set('Authorization', `Bearer ${key}`)
        .send({ to: recipient, subject: 's', text: 'x' })
        .expect(422);
      expect(again.body.error.code).toBe('recipient_suppressed');
    });

    it('max attempts with a long address (details cut at 250 characters by Postal) is still final', async () => {
      const { id, m } = await sendOne();
      const hash = { ...messageOf(m), to: `${'x'.repeat(200)}@rcpt.example` };
      const uuid = await post('MessageDeliveryFailed', postalMaxAttemptsFailure(hash));
      await processed(uuid);
      expect(await row(id)).toEqual(
        expect.objectContaining({ status: 'failed', bounce_reason: 'expired' }),
      );
    });

    it('a HardFail after which Postal suppressed the address (outgoing_message_processor.rb too many hard fails) is not retried', async () => {
      const { id, m, recipient } = await sendOne();
      // log_sender_result appends the suppression note to the SMTP details.
      const uuid = await post('MessageDeliveryFailed', {
        message: messageOf(m),
        status: 'HardFail',
        details:
          'Permanent SMTP delivery error when sending to mx.rcpt.example (192.0.2.25). Recipient added to suppression list (too many hard fails)',
        output: '554 5.7.1 Message rejected because of its content',
        sent_with_ssl: true,
        timestamp: Date.now() / 1000,
        time: 0.4,
      });
      await processed(uuid);
      expect(await row(id)).toEqual(
        expect.objectContaining({ status: 'bounced', bounce_type: 'soft', next_retry_at: null }),
      );
      const s = await suppression(recipient);
      expect(s).toEqual(expect.objectContaining({ source: 'postal' }));
      const days = (new Date(s!.expires_at).getTime() - Date.now()) / DAY_MS;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThanOrEqual(30);
    });

    it('outbound spam (app/lib/message_dequeuer/outgoing_message_processor.rb fail_if_spam): failed, not retried, counted in a report', async () => {
      const first = await sendOne();
      const second = await sendOne();
      for (const s of [first, second]) {
        const uuid = await post('MessageDeliveryFailed', postalSpamFailure(messageOf(s.m)));
        await processed(uuid);
        const r = await row(s.id);
        expect(r).toEqual(
          expect.objectContaining({
            status: 'failed',
            bounce_reason: 'spam_detected',
            next_retry_at: null,
          }),
        );
        expect(r.error_message).toContain('Message is likely spam. Threshold is 5.0');
        // Content, not the address: nothing suppressed.
        expect(await suppression(s.recipient)).toBeUndefined();
      }
      const reports = await t.dataSource.query(
        `SELECT severity, stats, summary FROM diagnostic_reports WHERE fingerprint = 'postal:OutboundSpam'`,
      );
      expect(reports).toHaveLength(1);
      expect(reports[0].stats).toEqual(expect.objectContaining({ failures: 2 }));
    });
  });

  describe('matching (lib/postal/message_db/message.rb webhook_hash carries id and token)', () => {
    it('an id that matches with a token that does not is unmatched and changes nothing', async () => {
      const { id, m } = await sendOne();
      const uuid = await post('MessageSent', {
        message: { ...messageOf(m), token: 'NotTheToken1' },
        status: 'Sent',
        details: 'Message for x accepted by mx.rcpt.example',
        output: '250 2.0.0 OK',
        sent_with_ssl: true,
        timestamp: Date.now() / 1000,
        time: 0.2,
      });
      expect((await processed(uuid)).error).toBe('unknown_message');
      expect((await row(id)).status).toBe('sent');
      expect(await eventTypes(id)).toEqual(['queued', 'sent']);
    });

    it('a token that matches with an id that does not is unmatched too', async () => {
      const { id, m } = await sendOne();
      const uuid = await post('MessageDeliveryFailed', {
        message: { ...messageOf(m), id: m.id + 1_000_000 },
        status: 'HardFail',
        details: 'Permanent SMTP delivery error when sending to mx.rcpt.example',
        output: '550 5.1.1 User unknown',
        sent_with_ssl: true,
        timestamp: Date.now() / 1000,
        time: 0.2,
      });
      expect((await processed(uuid)).error).toBe('unknown_message');
      expect((await row(id)).status).toBe('sent');
    });

    it('id and token that both match are processed', async () => {
      const { id, m } = await sendOne();
      const uuid = await post('MessageSent', {
        message: messageOf(m),
        status: 'Sent',
        details: 'Message for x accepted by mx.rcpt.example',
        output: '250 2.0.0 OK',
        sent_with_ssl: true,
        timestamp: Date.now() / 1000,
        time: 0.2,
      });
      expect((await processed(uuid)).error).toBeNull();
      expect((await row(id)).status).toBe('delivered');
    });
  });
});
