import { createHash } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import { hostileString, storable } from 'test/utils/fuzz';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(90_000);

/**
 * Several recipients, cc/bcc and attachments end to end (README "Sending"), against the fake
 * Postal speaking `send/raw` as postalserver/postal app/controllers/legacy_api/
 * send_controller.rb does: each received message is the MIME we built, parsed by mailparser.
 */
describe('recipients and attachments through Postal send/raw (e2e)', () => {
  let postal: FakePostal;
  let t: TestApp;
  let key: string;
  const MAX = 256 * 1024;

  beforeAll(async () => {
    postal = await new FakePostal().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      PUBLIC_URL: 'https://mail.shop.example',
      MAX_MESSAGE_BYTES: String(MAX),
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_KEY_PER_MIN: '100000',
    });
    key = await t.createKey();
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  const post = (path: string, body: unknown) =>
    request(t.server)
      .post(path)
      .set('Authorization', `Bearer ${key}`)
      .send(body as object);
  const status = async (id: string) =>
    (
      await request(t.server)
        .get(`/api/v1/status/${id}`)
        .set('Authorization', `Bearer ${key}`)
        .expect(200)
    ).body;
  const copiesFor = (emailId: string): ReceivedMessage[] =>
    postal.received.filter((m) => m.body.headers?.['X-Email-Id'] === emailId);

  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([0, 1, 2, 254, 255, 13, 10])]);
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  describe('to, cc and bcc', () => {
    it('sends each recipient its own copy and delivery record; Bcc appears in no header', async () => {
      const res = await post('/api/v1/send', {
        to: [{ email: 'ann@multi.example', name: 'Ann' }, 'bob@multi.example'],
        cc: ['carol@multi.example'],
        bcc: ['dave@multi.example'],
        subject: 'Team update',
        html: '<p>Hello {{recipient}}</p>',
        tag: 'team',
      }).expect(202);
      const apiId = res.body.message_id as string;
      expect(res.body.recipients).toEqual([
        { email: 'ann@multi.example', role: 'to', recipient_id: expect.any(String) },
        { email: 'bob@multi.example', role: 'to', recipient_id: expect.any(String) },
        { email: 'carol@multi.example', role: 'cc', recipient_id: expect.any(String) },
        { email: 'dave@multi.example', role: 'bcc', recipient_id: expect.any(String) },
      ]);
      expect(res.body.suppressed).toEqual([]);
      const ids = (res.body.recipients as Array<{ recipient_id: string }>).map(
        (r) => r.recipient_id,
      );
      expect(new Set([apiId, ...ids]).size).toBe(5);

      await waitFor(async () => ((await status(apiId)).status === 'sent' ? true : null), 'sent');
      for (const [i, address] of [
        'ann@multi.example',
        'bob@multi.example',
        'carol@multi.example',
        'dave@multi.example',
      ].entries()) {
        const [copy] = copiesFor(ids[i]);
        expect(copy.rcptTo).toBe(address);
        expect(copy.mailFrom).toBe('news@shop.example');
        expect(copy.body.to).toEqual(['Ann <ann@multi.example>', 'bob@multi.example']);
        expect(copy.parsed?.cc && !Array.isArray(copy.parsed.cc) ? copy.parsed.cc.text : '').toBe(
          'carol@multi.example',
        );
        expect(copy.parsed?.headers.has('bcc')).toBe(false);
        expect(copy.raw!.toString('latin1').split('\r\n\r\n', 1)[0]).not.toMatch(/^bcc:/im);
        if (address !== 'dave@multi.example') {
          expect(copy.raw!.toString('latin1')).not.toContain('dave@multi.example');
        }
        // Per-recipient rendering and tracking; our Message-ID is what Postal reports.
        expect(copy.body.html_body).toContain(`Hello ${address}`);
        expect(copy.body.tag).toBe('team');
        expect(copy.messageId).toBe(`${ids[i]}@shop.example`);
      }
      // Each record has its own Postal id and token, so a webhook names exactly one.
      const rows: Array<{
        provider_message_id: string;
        message_id: string;
        recipient_role: string;
      }> = await t.dataSource.query(
        `SELECT provider_message_id, message_id, recipient_role FROM email_logs
            WHERE message_id = $1 ORDER BY id`,
        [apiId],
      );
      expect(rows.map((r) => r.recipient_role)).toEqual(['to', 'to', 'cc', 'bcc']);
      expect(new Set(rows.map((r) => r.provider_message_id)).size).toBe(4);

      const s = await status(apiId);
      expect(s.message_id).toBe(apiId);
      expect(s.recipient).toBe('ann@multi.example');
      expect(s.recipients).toEqual(
        ids.map((id, i) =>
          expect.objectContaining({
            recipient_id: id,
            role: ['to', 'to', 'cc', 'bcc'][i],
            status: 'sent',
          }),
        ),
      );
      expect(s.events.filter((e: { type: string }) => e.type === 'sent')).toHaveLength(4);
      // A recipient's own id answers for that delivery record alone.
      const one = await status(ids[3]);
      expect(one.recipients).toEqual([expect.objectContaining({ email: 'dave@multi.example' })]);
    });

    it('drops a suppressed recipient and names it; all suppressed is a 422', async () => {
      await post('/api/v1/blacklist', { email: 'gone@multi.example', reason: 'hard_bounce' });
      const res = await post('/api/v1/send', {
        to: 'live@multi.example',
        cc: ['gone@multi.example'],
        subject: 'x',
        text: 'y',
      }).expect(202);
      expect(res.body.suppressed).toEqual([
        { email: 'gone@multi.example', role: 'cc', reason: 'hard_bounce' },
      ]);
      expect(res.body.recipients).toEqual([
        { email: 'live@multi.example', role: 'to', recipient_id: res.body.message_id },
      ]);
      const all = await post('/api/v1/send', {
        to: ['gone@multi.example'],
        subject: 'x',
        text: 'y',
      }).expect(422);
      expect(all.body.error.code).toBe('recipient_suppressed');
    });

    it.each(['to', 'cc', 'bcc'])('refuses more than 50 %s addresses as Postal does', async (f) => {
      const list = Array.from({ length: 51 }, (_, i) => `r${i}@fifty.example`);
      const body = {
        to: f === 'to' ? list : 'a@fifty.example',
        [f]: list,
        subject: 's',
        text: 't',
      };
      const res = await post('/api/v1/send', body).expect(400);
      expect(res.body.error.details).toEqual([
        expect.objectContaining({
          field: f,
          message: expect.stringMatching(
            /maximum number of .* addresses has been reached \(maximum 50\)/i,
          ),
        }),
      ]);
      const ok = await post('/api/v1/send', { ...body, [f]: list.slice(0, 50) }).expect(202);
      expect(ok.body.recipients.length).toBeGreaterThanOrEqual(50);
    });
  });

  describe('attachments', () => {
    it('round-trips a file and an inline image byte for byte through the MIME', async () => {
      const res = await post('/api/v1/send', {
        to: 'files@att.example',
        subject: 'Invoice',
        html: '<p>Logo: <img src="cid:logo@shop"></p>',
        // Transactional mail carries List-Unsubscribe only when asked (README "Streams").
        unsubscribe: true,
        attachments: [
          {
            filename: 'invoice 42.pdf',
            content: pdf.toString('base64'),
            content_type: 'application/pdf',
          },
          {
            filename: 'logo.png',
            content: png.toString('base64'),
            content_type: 'image/png',
            content_id: 'logo@shop',
          },
        ],
      }).expect(202);
      const id = res.body.message_id as string;
      expect(res.body).toEqual({ message_id: id, status: 'queued', send_at: null });
      await waitFor(async () => ((await status(id)).status === 'sent' ? true : null), 'sent');
      const [copy] = copiesFor(id);
      const files = copy.parsed!.attachments;
      const file = files.find((a) => a.filename === 'invoice 42.pdf')!;
      const inline = files.find((a) => a.filename === 'logo.png')!;
      expect(Buffer.compare(file.content, pdf)).toBe(0);
      expect(file.contentType).toBe('application/pdf');
      expect(file.contentDisposition).toBe('attachment');
      expect(Buffer.compare(inline.content, png)).toBe(0);
      expect(inline).toMatchObject({
        cid: 'logo@shop',
        contentDisposition: 'inline',
        related: true,
      });
      expect(copy.body.html_body).toContain('src="cid:logo@shop"');
      // Tracking and the service headers survive the MIME path.
      expect(copy.body.headers).toMatchObject({
        'X-Email-Id': id,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      });
      expect(copy.body.html_body).toMatch(/\/t\/o\//);
    });

    it('stores a batch attachment once, shares it with a later send, and prunes it when final', async () => {
      const doc = Buffer.from(`unique report ${Date.now()} ${Math.random()}`);
      const hash = sha(doc);
      const attachment = {
        filename: 'report.txt',
        content: doc.toString('base64'),
        content_type: 'text/plain',
      };
      const batch = await post('/api/v1/batch', {
        subject: 'Report',
        text: 'attached',
        attachments: [attachment],
        // Spread over domains: a broadcast batch drains at each domain's rate (README "Streams"),
        // and the rate is not what this test is about.
        recipients: Array.from({ length: 300 }, (_, i) => ({
          to: `r${i}@d${i % 100}.dedup.example`,
        })),
      }).expect(202);
      expect(batch.body.accepted).toBe(300);
      const single = await post('/api/v1/send', {
        to: 'one@dedup.example',
        subject: 'Report',
        text: 'attached',
        attachments: [attachment],
      }).expect(202);
      const count = async (sql: string) => Number((await t.dataSource.query(sql, [hash]))[0].n);
      expect(await count(`SELECT count(*) AS n FROM attachment_blobs WHERE sha256 = $1`)).toBe(1);
      expect(
        await count(
          `SELECT count(DISTINCT set_id) AS n FROM message_attachments WHERE sha256 = $1`,
        ),
      ).toBe(2);

      await waitFor(
        async () => ((await status(single.body.message_id)).status === 'sent' ? true : null),
        'sent',
      );
      const [copy] = copiesFor(single.body.message_id);
      expect(copy.parsed!.attachments[0].content.toString()).toBe(doc.toString());

      const attachments = t.app.get(AttachmentsService);
      // Not final yet (sent, queued…): nothing goes.
      await attachments.prune(0);
      expect(await count(`SELECT count(*) AS n FROM attachment_blobs WHERE sha256 = $1`)).toBe(1);
      // Wait for the batch to be handed over, then every delivery final.
      await waitFor(async () => {
        const r = await t.dataSource.query(
          `SELECT count(*)::int AS n FROM email_logs WHERE batch_id = $1 AND status <> 'sent'`,
          [batch.body.batch_id],
        );
        return r[0].n === 0 ? true : null;
      }, 'batch sent');
      await t.dataSource.query(
        `UPDATE email_logs SET status = 'delivered'
          WHERE batch_id = $1 OR external_message_id = $2`,
        [batch.body.batch_id, single.body.message_id],
      );
      await attachments.prune(0);
      expect(await count(`SELECT count(*) AS n FROM message_attachments WHERE sha256 = $1`)).toBe(
        0,
      );
      expect(await count(`SELECT count(*) AS n FROM attachment_blobs WHERE sha256 = $1`)).toBe(0);
    });

    it.each([
      [
        'not base64',
        { filename: 'a.txt', content: 'not base64!', content_type: 'text/plain' },
        400,
        'attachments[1].content',
      ],
      [
        'base64 with a line break',
        { filename: 'a.txt', content: 'QUJD\nREVG', content_type: 'text/plain' },
        400,
        'attachments[1].content',
      ],
      [
        'a path in the name',
        { filename: '../etc/passwd', content: 'QUJD', content_type: 'text/plain' },
        400,
        'attachments[1].filename',
      ],
      [
        'a control character in the name',
        { filename: 'a\u0007.txt', content: 'QUJD', content_type: 'text/plain' },
        400,
        'attachments[1].filename',
      ],
      [
        'no content type',
        { filename: 'a.txt', content: 'QUJD' },
        400,
        'attachments[1].content_type',
      ],
      [
        'an unknown field',
        { filename: 'a.txt', content: 'QUJD', content_type: 'text/plain', data: 'x' },
        400,
        'attachments[1].data',
      ],
      [
        'an executable by extension',
        { filename: 'setup.EXE', content: 'QUJD', content_type: 'application/octet-stream' },
        422,
        'attachments[1]',
      ],
      [
        'an executable by type',
        { filename: 'x.bin', content: 'QUJD', content_type: 'application/x-msdownload' },
        422,
        'attachments[1]',
      ],
      [
        'a script',
        { filename: 'run.js', content: 'QUJD', content_type: 'text/plain' },
        422,
        'attachments[1]',
      ],
      [
        'too large',
        {
          filename: 'big.bin',
          content: Buffer.alloc(MAX).toString('base64'),
          content_type: 'application/octet-stream',
        },
        413,
        'attachments[1]',
      ],
    ])('refuses %s naming the attachment', async (_label, bad, code, field) => {
      const res = await post('/api/v1/send', {
        to: 'x@att.example',
        subject: 's',
        text: 't',
        attachments: [{ filename: 'ok.txt', content: 'QUJD', content_type: 'text/plain' }, bad],
      }).expect(code);
      expect(res.body.error.details[0].field).toBe(field);
      expect(res.body.error.code).toBe(
        code === 422
          ? 'attachment_forbidden'
          : code === 413
            ? 'payload_too_large'
            : 'validation_error',
      );
    });

    it('fails the message at once when Postal refuses the raw message (UnauthenticatedFromAddress)', async () => {
      postal.authenticatedDomains = new Set(['elsewhere.example']);
      try {
        const res = await post('/api/v1/send', {
          to: 'noauth@att.example',
          subject: 's',
          text: 't',
          attachments: [{ filename: 'a.txt', content: 'QUJD', content_type: 'text/plain' }],
        }).expect(202);
        const s = await waitFor(async () => {
          const r = await status(res.body.message_id);
          return r.status === 'failed' ? r : null;
        }, 'failed');
        expect(s.error_message).toContain('UnauthenticatedFromAddress');
        expect(copiesFor(res.body.message_id)).toHaveLength(0);
      } finally {
        postal.authenticatedDomains = undefined;
      }
    });

    it('refuses html that references a cid no attachment has', async () => {
      const res = await post('/api/v1/send', {
        to: 'x@att.example',
        subject: 's',
        html: '<img src="cid:missing">',
        attachments: [
          { filename: 'a.png', content: 'QUJD', content_type: 'image/png', content_id: 'other' },
        ],
      }).expect(400);
      expect(res.body.error.details[0]).toMatchObject({ field: 'html' });
    });

    it('answers any malformed attachments with a 4xx naming them, never a 500', async () => {
      const attachment = fc.oneof(
        hostileString(),
        fc.constant(null),
        fc.integer(),
        fc.record(
          {
            filename: fc.oneof(hostileString(), fc.integer(), fc.constant('ok.pdf')),
            content: fc.oneof(hostileString(60), fc.base64String({ maxLength: 40 }), fc.integer()),
            content_type: fc.oneof(hostileString(), fc.constant('application/pdf')),
            content_id: fc.oneof(hostileString(), fc.constant(null)),
            extra: hostileString(),
          },
          { requiredKeys: [] },
        ),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(attachment, { maxLength: 4 }), async (list) => {
          const body = JSON.parse(
            storable(
              JSON.stringify({
                to: 'fuzz@att.example',
                subject: 's',
                text: 't',
                attachments: list,
              }),
            ),
          );
          const res = await post('/api/v1/send', body);
          expect([202, 400, 413, 422]).toContain(res.status);
          if (res.status !== 202) {
            expect(res.body.error.code).toEqual(expect.any(String));
            const named = JSON.stringify(res.body.error);
            expect(named).toMatch(/attachments/);
          }
        }),
        { numRuns: 60 },
      );
    });
  });
});
