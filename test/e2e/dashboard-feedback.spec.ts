import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildArfReport, postalRawPayload } from 'test/fakes/arf-message';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(90_000);

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const SECRET = 'inbound-secret-0123456789';

/**
 * Feedback reports that changed nothing (forged, unmatched, unreadable) are kept for an
 * operator: the dashboard lists them with their outcome and shows each one as received,
 * escaped (README: Security, feedback reports).
 */
describe('Dashboard feedback reports (e2e)', () => {
  let t: TestApp;
  const victim = `victim-${randomUUID().slice(0, 8)}@gmail.example`;
  let forgedId: string;

  beforeAll(async () => {
    t = await bootTestApp({
      APP_ROLES: 'api',
      ADMIN_USERNAME: USER,
      ADMIN_PASSWORD: PASSWORD,
      INBOUND_SECRET: SECRET,
      RATE_LIMIT_IP_PER_MIN: '100000',
    });
    // A forged report: no message of ours, a recipient of the sender's choosing, and markup
    // in the fields an operator will read.
    const raw = buildArfReport({
      recipient: victim,
      emailId: null,
      messageId: null,
      original: 'none',
      userAgent: '<script>alert(1)</script>',
    });
    const res = await request(t.server)
      .post(`/api/v1/inbound/postal/${SECRET}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(postalRawPayload(raw)))
      .expect(200);
    expect(res.body.status).toBe('unmatched');
    // An unreadable one, authorised but not a Postal payload.
    await request(t.server)
      .post(`/api/v1/inbound/postal/${SECRET}`)
      .set('Content-Type', 'application/json')
      .send('{"id": ')
      .expect(200);
    const [row]: Array<{ id: string }> = await t.dataSource.query(
      `SELECT id FROM feedback_reports WHERE original_recipient = $1`,
      [victim],
    );
    forgedId = String(row.id);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists every report with its outcome, newest first, behind the operator login', async () => {
    await request(t.server).get('/dashboard/feedback').expect(401);
    const res = await request(t.server).get('/dashboard/feedback').set('Authorization', AUTH);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    const rows = [...res.text.matchAll(/<tr data-report-id="(\d+)" data-outcome="([a-z_]+)">/g)];
    expect(rows.map((m) => m[2])).toEqual(['unreadable', 'unmatched']);
    expect(rows[1][1]).toBe(forgedId);
    expect(res.text).toContain(victim);
    expect(res.text).toContain('matches no message of ours');
    // The nav leads here.
    expect(res.text).toMatch(/<a href="\/dashboard\/feedback" aria-current="page">/);
  });

  it('filters by outcome and refuses an unknown one with a 400 page', async () => {
    const res = await request(t.server)
      .get('/dashboard/feedback?outcome=unmatched')
      .set('Authorization', AUTH)
      .expect(200);
    expect([...res.text.matchAll(/data-outcome="([a-z_]+)"/g)].map((m) => m[1])).toEqual([
      'unmatched',
    ]);
    const bad = await request(t.server)
      .get('/dashboard/feedback?outcome=nonsense')
      .set('Authorization', AUTH)
      .expect(400);
    expect(bad.headers['content-type']).toContain('text/html');
    expect(bad.text).toContain('outcome must be one of');
  });

  it('pages with a cursor', async () => {
    const first = await request(t.server)
      .get('/dashboard/feedback?limit=1')
      .set('Authorization', AUTH)
      .expect(200);
    // Handlebars escapes `&` and `=` in attribute values.
    const next = /href="([^"]+)" rel="next"/.exec(first.text)?.[1];
    expect(next).toBeDefined();
    const href = next!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    expect(href).toMatch(/^\/dashboard\/feedback\?limit=1&cursor=/);
    const second = await request(t.server).get(href).set('Authorization', AUTH).expect(200);
    expect([...second.text.matchAll(/data-report-id="(\d+)"/g)].map((m) => m[1])).toEqual([
      forgedId,
    ]);
  });

  it('shows one report as received, escaped, with what it claimed', async () => {
    const res = await request(t.server)
      .get(`/dashboard/feedback/${forgedId}`)
      .set('Authorization', AUTH)
      .expect(200);
    expect(res.text).toContain('data-outcome="unmatched"');
    expect(res.text).toContain('none matched');
    expect(res.text).toContain('id="feedback-raw"');
    expect(res.text).toContain(`Original-Rcpt-To: &lt;${victim}&gt;`);
    expect(res.text).not.toContain('<script>alert(1)</script>');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('404 page for an unknown or malformed report id', async () => {
    for (const id of ['999999999', 'abc', '99999999999999999999999']) {
      const res = await request(t.server)
        .get(`/dashboard/feedback/${id}`)
        .set('Authorization', AUTH)
        .expect(404);
      expect(res.headers['content-type']).toContain('text/html');
    }
  });
});
