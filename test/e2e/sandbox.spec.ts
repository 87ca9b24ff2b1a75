import { createHash } from 'node:crypto';
import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';
import { INTERNAL_CAUSES } from 'src/modules/emails/lifecycle/transitions';

jest.setTimeout(60_000);

describe('sandbox transport (no POSTAL_URL) (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({ APP_ROLES: 'api,worker', DEFAULT_FROM: 'Shop <news@shop.example>' });
    key = await t.createKey();
  });
  afterAll(() => t.close());

  it('uses the sandbox when POSTAL_URL is unset', () => {
    expect(t.config.mailTransport).toBe('sandbox');
  });

  it('runs the whole pipeline: the message ends delivered and its rendered content can be read back', async () => {
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({
        to: 'anyone@anywhere.example',
        subject: 'Hi {{n}}',
        html: '<p>Hello {{n}} <a href="https://x.example/a">a</a></p>',
        // Transactional mail carries List-Unsubscribe only when asked (README "Streams").
        unsubscribe: true,
        variables: { n: '<b>' },
      })
      .expect(202);
    const id = res.body.message_id;
    const s = await waitFor(async () => {
      const r = await request(t.server)
        .get(`/api/v1/status/${id}`)
        .set('Authorization', `Bearer ${key}`);
      return r.body.status === 'delivered' ? r.body : null;
    }, 'delivered');
    expect(s.events.map((e: { type: string }) => e.type)).toEqual(['queued', 'sent', 'delivered']);
    expect(s.events[2].details).toEqual(expect.objectContaining({ source: 'sandbox' }));
    expect(s.sent_at).not.toBeNull();
    expect(s.delivered_at).not.toBeNull();

    const [row] = await t.dataSource.query(
      `SELECT provider_message_id, status_details->'sandbox' AS copy FROM email_logs WHERE external_message_id = $1`,
      [id],
    );
    expect(row.provider_message_id).toMatch(/^sandbox-/);
    expect(row.copy.subject).toBe('Hi <b>');
    expect(row.copy.html).toContain('Hello &lt;b&gt;');
    expect(row.copy.html).toContain('/t/o/');
    expect(row.copy.html).not.toContain('href="https://x.example/a"');
    expect(row.copy.text).toContain('Hello <b>');
    expect(row.copy.headers['X-Email-Id']).toBe(id);
    expect(row.copy.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  // README "Sending" (attachments) and "Dashboard": the list is kept with the rendered copy,
  // the message page lists it and shows inline images from the operator-only route.
  it('keeps the attachment list with the copy; the dashboard lists it and serves inline images', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex');
    const doc = Buffer.from('hello sandbox');
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({
        to: 'att@anywhere.example',
        subject: 'With files',
        html: '<p><img src="cid:logo" alt="logo"></p>',
        attachments: [
          { filename: 'notes.txt', content: doc.toString('base64'), content_type: 'text/plain' },
          {
            filename: 'logo.png',
            content: png.toString('base64'),
            content_type: 'image/png',
            content_id: 'logo',
          },
        ],
      })
      .expect(202);
    const id = res.body.message_id as string;
    await waitFor(async () => {
      const r = await request(t.server)
        .get(`/api/v1/status/${id}`)
        .set('Authorization', `Bearer ${key}`);
      return r.body.status === 'delivered' ? true : null;
    }, 'delivered');
    const [row] = await t.dataSource.query(
      `SELECT status_details->'sandbox' AS copy FROM email_logs WHERE external_message_id = $1`,
      [id],
    );
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(row.copy.attachments).toEqual([
      {
        filename: 'notes.txt',
        content_type: 'text/plain',
        size: doc.length,
        sha256: sha(doc),
        content_id: null,
      },
      {
        filename: 'logo.png',
        content_type: 'image/png',
        size: png.length,
        sha256: sha(png),
        content_id: 'logo',
      },
    ]);

    const basic = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
    const page = await request(t.server)
      .get(`/dashboard/logs/${id}`)
      .set('Authorization', basic)
      .expect(200);
    expect(page.text).toContain('notes.txt');
    expect(page.text).toContain(sha(png));
    const image = `/dashboard/logs/${id}/attachments/1`;
    // The preview (srcdoc, attribute-escaped) points the cid image at the route.
    expect(page.text).toContain(`src&#x3D;&quot;${image}&quot;`);
    expect(page.headers['content-security-policy']).toContain("img-src data: 'self'");

    const served = await request(t.server).get(image).set('Authorization', basic).expect(200);
    expect(served.headers['content-type']).toBe('image/png');
    expect(served.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(served.body as Buffer, png)).toBe(0);
    const file = await request(t.server)
      .get(`/dashboard/logs/${id}/attachments/0`)
      .set('Authorization', basic)
      .expect(200);
    expect(file.headers['content-type']).toBe('application/octet-stream');
    expect(file.headers['content-disposition']).toMatch(/^attachment;/);
    await request(t.server).get(image).expect(401);
    await request(t.server)
      .get(`/dashboard/logs/${id}/attachments/7`)
      .set('Authorization', basic)
      .expect(404);
  });
});

describe('sandbox simulator addresses (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({ APP_ROLES: 'api,worker', DEFAULT_FROM: 'Shop <news@shop.example>' });
    key = await t.createKey();
  });
  afterAll(() => t.close());

  async function sendTo(to: string): Promise<string> {
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to, subject: 's', text: 'x' })
      .expect(202);
    return res.body.message_id;
  }

  const row = async (id: string) =>
    (await t.dataSource.query('SELECT * FROM email_logs WHERE external_message_id = $1', [id]))[0];
  const settled = (id: string, status: string) =>
    waitFor(async () => ((await row(id)).status === status ? row(id) : null), `${id} ${status}`);
  const events = async (id: string) =>
    (
      await t.dataSource.query(
        // The timeline as the API shows it: the worker's internal transitions left out
        // (docs/ARCHITECTURE.md "Transition events").
        `SELECT e.event_type FROM email_events e JOIN email_logs l ON l.id = e.email_log_id
          WHERE l.external_message_id = $1 AND (e.cause IS NULL OR e.cause <> ALL($2::text[]))
          ORDER BY e.id`,
        [id, INTERNAL_CAUSES],
      )
    ).map((r: { event_type: string }) => r.event_type);

  it('delivered@ → delivered', async () => {
    await settled(await sendTo('delivered@simulator.test'), 'delivered');
  });

  it('bounce@ → 550 5.1.1 hard bounce, suppressed', async () => {
    const r = await settled(await sendTo('bounce@simulator.test'), 'bounced');
    expect(r).toEqual(
      expect.objectContaining({
        bounce_type: 'hard',
        bounce_reason: 'user_unknown',
        smtp_code: '550',
      }),
    );
    const check = await request(t.server)
      .get('/api/v1/blacklist/check')
      .query({ email: 'bounce@simulator.test' })
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(check.body).toEqual(expect.objectContaining({ blocked: true, reason: 'hard_bounce' }));
  });

  it('softbounce+tag@ → 452 4.2.2 soft bounce, retry scheduled in an hour', async () => {
    const r = await settled(await sendTo('softbounce+x1@simulator.test'), 'retry_scheduled');
    expect(r).toEqual(
      expect.objectContaining({
        bounce_type: 'soft',
        bounce_reason: 'mailbox_full',
        smtp_code: '452',
      }),
    );
    expect(new Date(r.next_retry_at).getTime() - Date.now()).toBeGreaterThan(3500 * 1000);
  });

  it('delay@ → 421 deferral: a delayed event and the domain rate halved', async () => {
    const id = await sendTo('delay@simulator.test');
    await waitFor(async () => (await events(id)).includes('delayed'), 'delayed event');
    expect((await row(id)).status).toBe('sent');
    const rc = await request(t.server)
      .get('/api/v1/rate-control')
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(rc.body.domains).toEqual(
      expect.arrayContaining([expect.objectContaining({ domain: 'simulator.test', factor: 0.5 })]),
    );
  });

  it("reports its outcomes as Postal-format webhook events, stored and processed like Postal's", async () => {
    // Postal's `MessageDeliveryFailed` delivery hash (lib/postal/message_db/delivery.rb
    // `webhook_hash`) around the message hash (lib/postal/message_db/message.rb `webhook_hash`):
    // the sandbox hands the same envelope to the same ingestion path as Postal's webhooks.
    const id = await sendTo('bounce+stored@simulator.test');
    await settled(id, 'bounced');
    const [log] = await t.dataSource.query(
      `SELECT provider_message_id, provider_token FROM email_logs WHERE external_message_id = $1`,
      [id],
    );
    const stored = await waitFor(async () => {
      const rows = await t.dataSource.query(
        `SELECT uuid, event, payload, processed_at, error FROM webhook_events
          WHERE payload->'payload'->'message'->>'to' = $1`,
        ['bounce+stored@simulator.test'],
      );
      return rows.length === 1 && rows[0].processed_at ? rows : null;
    }, 'the stored sandbox event');
    expect(stored[0]).toEqual(
      expect.objectContaining({ event: 'MessageDeliveryFailed', error: null }),
    );
    expect(stored[0].uuid).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    const payload = stored[0].payload.payload;
    expect(payload).toEqual(
      expect.objectContaining({
        status: 'HardFail',
        output: '550 5.1.1 user unknown',
        sent_with_ssl: true,
        message: expect.objectContaining({
          id: log.provider_message_id,
          token: log.provider_token,
          direction: 'outgoing',
          to: 'bounce+stored@simulator.test',
        }),
      }),
    );
  });

  it('complaint@ → delivered, then complained and suppressed', async () => {
    const id = await sendTo('complaint@simulator.test');
    await settled(id, 'complained');
    expect(await events(id)).toEqual(['queued', 'sent', 'delivered', 'complained']);
    const check = await request(t.server)
      .get('/api/v1/blacklist/check')
      .query({ email: 'complaint@simulator.test' })
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(check.body.reason).toBe('complaint');
  });
});
