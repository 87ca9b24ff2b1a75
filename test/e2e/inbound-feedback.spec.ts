import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PinoLogger } from 'nestjs-pino';
import request from 'supertest';
import {
  ArfReportOptions,
  buildArfReport,
  postalEndpointRequest,
  postalRawPayload,
} from 'test/fakes/arf-message';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(90_000);

const SECRET = 'inbound-secret-0123456789';
const INBOUND = `/api/v1/inbound/postal/${SECRET}`;

/**
 * The feedback-loop endpoint against forged reports, Postal's four HTTP endpoint settings
 * (app/senders/http_sender.rb, lib/postal/http.rb in postalserver/postal) and unauthenticated
 * bodies (README: Postal set-up, Security).
 */
describe('feedback reports at /api/v1/inbound/postal (e2e)', () => {
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
      INBOUND_SECRET: SECRET,
      RATE_LIMIT_IP_PER_MIN: '100000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  async function sent(): Promise<{ id: string; m: ReceivedMessage; recipient: string }> {
    const recipient = `fbl-${randomUUID().slice(0, 8)}@isp.example`;
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
    await waitFor(async () => (await status(id)) === 'sent', 'sent');
    return { id, m, recipient };
  }

  const status = async (id: string): Promise<string> =>
    (
      await t.dataSource.query('SELECT status FROM email_logs WHERE external_message_id = $1', [id])
    )[0].status;

  const suppression = async (email: string): Promise<string | null> =>
    (
      await request(t.server)
        .get(`/api/v1/blacklist/check?email=${encodeURIComponent(email)}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(200)
    ).body.reason ?? null;

  const postRaw = (raw: string) =>
    request(t.server)
      .post(INBOUND)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(postalRawPayload(raw)));

  const listed = async (query = '') =>
    (
      await request(t.server)
        .get(`/api/v1/feedback-reports${query}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(200)
    ).body;

  describe('forged and mismatched reports suppress nothing', () => {
    it('a report naming no message of ours, only a recipient, is kept as unmatched', async () => {
      const victim = `victim-${randomUUID().slice(0, 8)}@gmail.example`;
      for (const field of ['original-rcpt-to', 'removal-recipient']) {
        const raw = buildArfReport({
          recipient: victim,
          emailId: null,
          messageId: null,
          original: 'none',
          omitFields: field === 'removal-recipient' ? ['original-rcpt-to'] : [],
          reportFields: field === 'removal-recipient' ? [`Removal-Recipient: ${victim}`] : [],
        });
        const res = await postRaw(raw).expect(200);
        expect(res.body).toEqual({ status: 'unmatched', message_id: null });
      }
      expect(await suppression(victim)).toBeNull();

      const page = await listed('?outcome=unmatched');
      const mine = page.data.filter(
        (r: { original_recipient: string }) => r.original_recipient === victim,
      );
      expect(mine).toHaveLength(2);
      expect(mine[0]).toMatchObject({ outcome: 'unmatched', message_id: null });
    });

    it('a report matching our message but naming another recipient changes nothing', async () => {
      const { id, recipient } = await sent();
      const victim = `victim-${randomUUID().slice(0, 8)}@gmail.example`;
      // The original is ours (X-Email-Id) but the report names the victim.
      const raw = buildArfReport({ emailId: id, recipient, reportFields: [] }).replace(
        `Original-Rcpt-To: <${recipient}>`,
        `Original-Rcpt-To: <${victim}>`,
      );
      const res = await postRaw(raw).expect(200);
      expect(res.body).toEqual({ status: 'recipient_mismatch', message_id: id });
      expect(await status(id)).toBe('sent');
      expect(await suppression(victim)).toBeNull();
      expect(await suppression(recipient)).toBeNull();
    });

    it('an unknown X-Email-Id with a forged Message-ID is unmatched', async () => {
      const victim = `victim-${randomUUID().slice(0, 8)}@gmail.example`;
      const res = await postRaw(
        buildArfReport({ recipient: victim, emailId: randomUUID(), messageId: 'nope@x.example' }),
      ).expect(200);
      expect(res.body.status).toBe('unmatched');
      expect(await suppression(victim)).toBeNull();
    });
  });

  describe('feedback types', () => {
    it.each(['abuse', 'fraud', 'virus', 'other'])('%s is a complaint', async (feedbackType) => {
      const { id, recipient } = await sent();
      const res = await postRaw(buildArfReport({ emailId: id, recipient, feedbackType })).expect(
        200,
      );
      expect(res.body).toEqual({ status: 'complained', message_id: id });
      expect(await status(id)).toBe('complained');
      expect(await suppression(recipient)).toBe('complaint');
    });

    it('opt-out unsubscribes the recipient without a complaint', async () => {
      const { id, recipient } = await sent();
      const res = await postRaw(
        buildArfReport({ emailId: id, recipient, feedbackType: 'opt-out' }),
      ).expect(200);
      expect(res.body).toEqual({ status: 'unsubscribed', message_id: id });
      expect(await status(id)).toBe('sent');
      expect(await suppression(recipient)).toBe('unsubscribe');
    });

    it('not-spam changes nothing', async () => {
      const { id, recipient } = await sent();
      const res = await postRaw(
        buildArfReport({ emailId: id, recipient, feedbackType: 'not-spam' }),
      ).expect(200);
      expect(res.body).toEqual({ status: 'not_spam', message_id: id });
      expect(await status(id)).toBe('sent');
      expect(await suppression(recipient)).toBeNull();
    });

    it('auth-failure (RFC 6591) raises a diagnostic report and suppresses nothing', async () => {
      const { id, recipient } = await sent();
      const res = await postRaw(
        buildArfReport({
          emailId: id,
          recipient,
          feedbackType: 'auth-failure',
          reportFields: [
            'Auth-Failure: dkim',
            'DKIM-Domain: shop.example',
            'DKIM-Selector: postal',
          ],
        }),
      ).expect(200);
      expect(res.body).toEqual({ status: 'auth_failure', message_id: id });
      expect(await status(id)).toBe('sent');
      expect(await suppression(recipient)).toBeNull();
      const reports = (
        await request(t.server)
          .get('/api/v1/reports')
          .set('Authorization', `Bearer ${key}`)
          .expect(200)
      ).body.data;
      expect(reports.some((r: { summary: string }) => /DKIM.*shop\.example/.test(r.summary))).toBe(
        true,
      );
      const [row] = (await listed('?outcome=auth_failure')).data;
      expect(row.details.auth_failure).toMatchObject({
        authFailure: 'dkim',
        dkimDomain: 'shop.example',
        dkimSelector: 'postal',
      });
    });

    it("matches by Postal's token (X-Postal-MsgID) on the original", async () => {
      const { id, m, recipient } = await sent();
      const res = await postRaw(
        buildArfReport({ emailId: null, messageId: null, postalToken: m.token, recipient }),
      ).expect(200);
      expect(res.body).toEqual({ status: 'complained', message_id: id });
    });
  });

  describe("Postal's four HTTP endpoint settings", () => {
    it.each([
      ['BodyAsJSON', 'RawMessage', 'token'],
      ['BodyAsJSON', 'Hash', 'token'],
      ['FormData', 'RawMessage', 'token'],
      ['FormData', 'Hash', 'token'],
      ['BodyAsJSON', 'RawMessage', 'signature'],
      ['FormData', 'Hash', 'signature'],
      ['FormData', 'RawMessage', 'basic'],
    ] as const)('%s + %s (%s) records the complaint', async (encoding, format, auth) => {
      const { id, recipient } = await sent();
      const opts: ArfReportOptions = { emailId: id, recipient };
      const { contentType, body } = postalEndpointRequest(encoding, format, opts);
      let req = request(t.server)
        .post(auth === 'token' ? INBOUND : '/api/v1/inbound/postal')
        .set('Content-Type', contentType);
      if (auth === 'signature') req = req.set(signPostalWebhook(Buffer.from(body), privateKey));
      if (auth === 'basic') req = req.auth('postal', SECRET);
      const res = await req.send(body).expect(200);
      expect(res.body).toEqual({ status: 'complained', message_id: id });
      expect(await suppression(recipient)).toBe('complaint');
    });

    it('keeps an authorised request it cannot read and answers 200 (Postal never retries 4xx)', async () => {
      // Each is logged as a warning with its request id (README "Observability").
      const warned: unknown[][] = [];
      jest.spyOn(PinoLogger.root, 'warn').mockImplementation(((...args: unknown[]) => {
        warned.push(args);
      }) as never);
      for (const [i, [contentType, body]] of [
        ['application/json', '{"message": '],
        ['application/x-www-form-urlencoded', 'message=%%%&base64=true'],
        ['text/plain', 'hello'],
      ].entries()) {
        const res = await request(t.server)
          .post(INBOUND)
          .set('Content-Type', contentType)
          .set('X-Request-Id', `inbound-warn-${i}`)
          .send(body)
          .expect(200);
        expect(['unreadable', 'ignored']).toContain(res.body.status);
      }
      jest.restoreAllMocks();
      expect(
        warned
          .filter(([, msg]) => /^inbound (request not readable|message ignored)/.test(String(msg)))
          .map(([fields]) => (fields as { requestId?: string }).requestId),
      ).toEqual(['inbound-warn-0', 'inbound-warn-1', 'inbound-warn-2']);
      const page = await listed('?limit=200');
      const kept = page.data.filter((r: { outcome: string }) =>
        ['unreadable', 'ignored'].includes(r.outcome),
      );
      expect(kept.length).toBeGreaterThanOrEqual(3);
      const detail = await request(t.server)
        .get(`/api/v1/feedback-reports/${kept[0].id}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(200);
      expect(detail.body.raw).toEqual(expect.any(String));
    });

    it('stores every report of a message with several', async () => {
      const a = await sent();
      const b = await sent();
      const { buildReportDigest } = await import('test/fakes/arf-message');
      const raw = buildReportDigest([
        buildArfReport({ emailId: a.id, recipient: a.recipient }),
        buildArfReport({ emailId: b.id, recipient: b.recipient, feedbackType: 'opt-out' }),
      ]);
      const res = await postRaw(raw).expect(200);
      expect(res.body.reports).toEqual([
        { status: 'complained', message_id: a.id },
        { status: 'unsubscribed', message_id: b.id },
      ]);
    });
  });

  describe('GET /api/v1/feedback-reports', () => {
    it('pages with a cursor, newest first, and needs a full-scope key', async () => {
      const p1 = await listed('?limit=2');
      expect(p1.data).toHaveLength(2);
      expect(Number(p1.data[0].id)).toBeGreaterThan(Number(p1.data[1].id));
      const p2 = await listed(`?limit=2&cursor=${p1.next_cursor}`);
      expect(Number(p2.data[0].id)).toBeLessThan(Number(p1.data[1].id));
      await request(t.server)
        .get('/api/v1/feedback-reports?cursor=garbage!')
        .set('Authorization', `Bearer ${key}`)
        .expect(400);
      await request(t.server)
        .get('/api/v1/feedback-reports/999999999')
        .set('Authorization', `Bearer ${key}`)
        .expect(404);
      const sendKey = await t.createKey('send');
      await request(t.server)
        .get('/api/v1/feedback-reports')
        .set('Authorization', `Bearer ${sendKey}`)
        .expect(403);
    });
  });

  describe('bodies of unauthenticated requests are never read', () => {
    /** Sends only the request head of a huge POST and waits for the answer and the close. */
    function headOnly(path: string, extra = ''): Promise<{ head: string; closed: boolean }> {
      const { port } = (
        t.server.listening ? t.server : t.server.listen(0)
      ).address() as AddressInfo;
      return new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let data = '';
        const timer = setTimeout(() => {
          socket.destroy();
          resolve({ head: data, closed: false });
        }, 5000);
        socket.on('connect', () =>
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}Content-Length: 10485760\r\n\r\n{"a":`,
          ),
        );
        socket.on('data', (d) => (data += d.toString('latin1')));
        socket.on('close', () => {
          clearTimeout(timer);
          resolve({ head: data, closed: true });
        });
        socket.on('error', reject);
      });
    }

    it.each([
      ['/api/v1/webhook', ''],
      ['/api/v1/inbound/postal', ''],
      ['/api/v1/inbound/postal/wrong-token-0123456789', ''],
      ['/api/v1/inbound/postal', 'Authorization: Basic cG9zdGFsOndyb25n\r\n'],
      ['/api/v1/webhook', 'X-Postal-Signature-KID: abc\r\n'],
    ])('POST %s %s → 401 at once, connection closed', async (path, extra) => {
      const { head, closed } = await headOnly(path, extra);
      expect(head).toMatch(/^HTTP\/1\.1 401 /);
      expect(head).toMatch(/"code":"unauthorized"/);
      expect(closed).toBe(true);
    });
  });

  it('form-encoded bodies are not parsed under /api', async () => {
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('to=ann%40example.com&subject=Hi&text=Hello&from=a%40shop.example')
      .expect(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });
});

describe('HTTP server timeouts (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await bootTestApp({ HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_HEADERS_TIMEOUT_MS: '1000' });
  });
  afterAll(() => t.close());

  it.each([
    [
      'a body that never ends',
      // A JSON body (any other type is refused before a byte is read: README "API overview").
      'POST /api/v1/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    ],
    ['headers that never end', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: '],
  ])('closes a connection sending %s (408), long before Node’s 300 s default', async (_n, text) => {
    await new Promise<void>((r) => t.server.listen(0, r));
    const { port } = t.server.address() as AddressInfo;
    const started = Date.now();
    const result = await new Promise<{ data: string; ms: number }>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(text));
      let data = '';
      const timer = setTimeout(() => socket.destroy(), 20_000);
      socket.on('data', (d) => (data += d.toString('latin1')));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ data, ms: Date.now() - started });
      });
      socket.on('error', reject);
    });
    t.server.close();
    expect(result.data).toMatch(/HTTP\/1\.1 408 /);
    expect(result.ms).toBeLessThan(15_000);
  });
});
