import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

const HOUR_MS = 3600 * 1000;

/** DELETE/PATCH /api/v1/messages/:id and POST /api/v1/batches/:id/cancel (README "Cancel and reschedule"). */
describe('cancel and reschedule (e2e)', () => {
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
    });
    key = await t.createKey('send');
  });
  afterAll(async () => {
    await t.close();
    await postal.stop();
  });

  const auth = (r: request.Test) => r.set('Authorization', `Bearer ${key}`);
  const address = () => `c-${randomUUID().slice(0, 8)}@cancel.example`;
  const later = (ms: number) => new Date(Date.now() + ms).toISOString();

  async function schedule(sendAt: string, to = address()): Promise<string> {
    const res = await auth(request(t.server).post('/api/v1/send'))
      .send({ to, subject: 's', text: 't', send_at: sendAt })
      .expect(202);
    return res.body.message_id as string;
  }

  async function status(id: string): Promise<{ status: string; events: Array<{ type: string }> }> {
    return (await auth(request(t.server).get(`/api/v1/status/${id}`)).expect(200)).body;
  }

  it('cancels a scheduled message: canceled, final, with its event, never sent', async () => {
    const id = await schedule(later(HOUR_MS));
    const res = await auth(request(t.server).delete(`/api/v1/messages/${id}`)).expect(200);
    expect(res.body).toEqual({ message_id: id, status: 'canceled' });
    const s = await status(id);
    expect(s.status).toBe('canceled');
    expect(s.events.map((e) => e.type)).toEqual(['queued', 'canceled']);
    const [event] = await t.dataSource.query(
      `SELECT e.from_status, e.cause FROM email_events e JOIN email_logs l ON l.id = e.email_log_id
        WHERE l.external_message_id = $1 AND e.event_type = 'canceled'`,
      [id],
    );
    expect(event).toEqual({ from_status: 'queued', cause: 'cancel' });
    // Again: the same answer (idempotent).
    await auth(request(t.server).delete(`/api/v1/messages/${id}`)).expect(200);
    // A canceled message cannot be rescheduled.
    const patch = await auth(request(t.server).patch(`/api/v1/messages/${id}`))
      .send({ send_at: later(60_000) })
      .expect(409);
    expect(patch.body.error).toMatchObject({ code: 'message_not_pending', status: 'canceled' });
  });

  it('refuses to cancel a message being sent or sent: 409 with its status', async () => {
    const id = await schedule(later(HOUR_MS));
    // The worker's claim first (the row as the claim leaves it), then the cancel.
    await t.dataSource.query(
      `UPDATE email_logs SET status = 'processing' WHERE external_message_id = $1`,
      [id],
    );
    const res = await auth(request(t.server).delete(`/api/v1/messages/${id}`)).expect(409);
    expect(res.body.error).toMatchObject({ code: 'message_not_pending', status: 'processing' });
    expect(res.body.request_id).toEqual(expect.any(String));

    const sent = await auth(request(t.server).post('/api/v1/send'))
      .send({ to: address(), subject: 's', text: 't' })
      .expect(202);
    const sentId = sent.body.message_id as string;
    await waitFor(async () => (await status(sentId)).status === 'sent', 'sent');
    const late = await auth(request(t.server).delete(`/api/v1/messages/${sentId}`)).expect(409);
    expect(late.body.error).toMatchObject({ code: 'message_not_pending', status: 'sent' });
  });

  it('answers 404 for an unknown or malformed id', async () => {
    await auth(request(t.server).delete(`/api/v1/messages/${randomUUID()}`)).expect(404);
    await auth(request(t.server).delete('/api/v1/messages/not-a-uuid')).expect(404);
    await auth(request(t.server).patch(`/api/v1/messages/${randomUUID()}`))
      .send({ send_at: later(60_000) })
      .expect(404);
    await auth(request(t.server).post(`/api/v1/batches/${randomUUID()}/cancel`)).expect(404);
  });

  it('reschedules a scheduled message, earlier: it is sent at the new time', async () => {
    const id = await schedule(later(HOUR_MS));
    const soon = later(1500);
    const res = await auth(request(t.server).patch(`/api/v1/messages/${id}`))
      .send({ send_at: soon })
      .expect(200);
    expect(res.body).toEqual({ message_id: id, status: 'queued', send_at: soon });
    await waitFor(
      () => postal.received.find((r) => r.body.headers?.['X-Email-Id'] === id),
      'the rescheduled message to reach Postal',
      20_000,
    );
  });

  it('reschedules later: the message waits until then', async () => {
    const id = await schedule(later(2000));
    const res = await auth(request(t.server).patch(`/api/v1/messages/${id}`))
      .send({ send_at: later(HOUR_MS) })
      .expect(200);
    expect(res.body.status).toBe('queued');
    const [row] = await t.dataSource.query(
      `SELECT send_at FROM email_logs WHERE external_message_id = $1`,
      [id],
    );
    expect(new Date(row.send_at).getTime()).toBe(Date.parse(res.body.send_at));
    await new Promise((r) => setTimeout(r, 3000));
    expect(postal.received.some((r) => r.body.headers?.['X-Email-Id'] === id)).toBe(false);
    expect((await status(id)).status).toBe('queued');
  });

  it('validates send_at: a 400 naming the field', async () => {
    const id = await schedule(later(HOUR_MS));
    for (const body of [{}, { send_at: 'tomorrow' }, { send_at: later(40 * 24 * HOUR_MS) }]) {
      const res = await auth(request(t.server).patch(`/api/v1/messages/${id}`))
        .send(body)
        .expect(400);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'send_at' })]);
    }
  });

  it('cancels what is left of a batch and answers with the counts', async () => {
    const recipients = Array.from({ length: 5 }, () => ({ to: address() }));
    const b = await auth(request(t.server).post('/api/v1/batch'))
      .send({ subject: 's', text: 't', send_at: later(HOUR_MS), recipients })
      .expect(202);
    const ids = (b.body.messages as Array<{ message_id: string }>).map((m) => m.message_id);
    // One is being sent (claimed), one already left.
    await t.dataSource.query(
      `UPDATE email_logs SET status = 'processing' WHERE external_message_id = $1`,
      [ids[0]],
    );
    await t.dataSource.query(
      `UPDATE email_logs SET status = 'sent', sent_at = now() WHERE external_message_id = $1`,
      [ids[1]],
    );
    const res = await auth(
      request(t.server).post(`/api/v1/batches/${b.body.batch_id}/cancel`),
    ).expect(200);
    expect(res.body).toEqual({
      batch_id: b.body.batch_id,
      canceled: 3,
      by_status: { processing: 1, sent: 1, canceled: 3 },
    });
    const again = await auth(
      request(t.server).post(`/api/v1/batches/${b.body.batch_id}/cancel`),
    ).expect(200);
    expect(again.body.canceled).toBe(0);
    const progress = await auth(request(t.server).get(`/api/v1/batches/${b.body.batch_id}`));
    expect(progress.body.by_status).toEqual({ processing: 1, sent: 1, canceled: 3 });
  });
});
