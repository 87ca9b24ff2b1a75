import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

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
});
