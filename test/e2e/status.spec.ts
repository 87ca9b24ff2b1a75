import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';

describe('GET /api/v1/status/:message_id (e2e)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp();
    key = await t.createKey('send');
  });
  afterAll(() => t.close());

  it('returns the message with its events in time order', async () => {
    const log = await makeEmailLog(t.dataSource, {
      status: 'bounced',
      campaignId: 'spring-2026',
      tag: 'welcome',
      bounceType: 'soft',
      bounceReason: 'mailbox_full',
      smtpCode: '452',
      errorMessage: '452 4.2.2 mailbox full',
      retryCount: 1,
      statusDetails: { template_id: 'welcome' },
      sentAt: new Date('2026-11-01T10:00:01Z'),
    });
    await makeEmailEvent(t.dataSource, log, 'queued', {
      occurredAt: new Date('2026-11-01T10:00:00Z'),
    });
    await makeEmailEvent(t.dataSource, log, 'bounced', {
      occurredAt: new Date('2026-11-01T10:00:05Z'),
      details: { output: '452 4.2.2 mailbox full' },
    });
    await makeEmailEvent(t.dataSource, log, 'sent', {
      occurredAt: new Date('2026-11-01T10:00:01Z'),
    });

    const res = await request(t.server)
      .get(`/api/v1/status/${log.externalMessageId}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(res.body).toEqual({
      message_id: log.externalMessageId,
      status: 'bounced',
      recipient: log.recipient,
      from: 'Shop <news@shop.example>',
      subject: log.subject,
      batch_id: null,
      campaign_id: 'spring-2026',
      tag: 'welcome',
      stream: 'transactional',
      template_id: 'welcome',
      bounce_type: 'soft',
      bounce_reason: 'mailbox_full',
      smtp_code: '452',
      error_message: '452 4.2.2 mailbox full',
      retry_count: 1,
      next_retry_at: null,
      send_at: null,
      sent_at: '2026-11-01T10:00:01.000Z',
      delivered_at: null,
      opened_at: null,
      clicked_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      // README "Sending": every recipient's own state; one entry for a single recipient.
      recipients: [
        {
          email: log.recipient,
          role: 'to',
          recipient_id: log.externalMessageId,
          status: 'bounced',
          bounce_type: 'soft',
          error_message: '452 4.2.2 mailbox full',
          sent_at: '2026-11-01T10:00:01.000Z',
          delivered_at: null,
        },
      ],
      events: [
        { type: 'queued', occurred_at: '2026-11-01T10:00:00.000Z', details: {} },
        { type: 'sent', occurred_at: '2026-11-01T10:00:01.000Z', details: {} },
        {
          type: 'bounced',
          occurred_at: '2026-11-01T10:00:05.000Z',
          details: { output: '452 4.2.2 mailbox full' },
        },
      ],
    });
  });

  it('accepts the id in upper case', async () => {
    const log = await makeEmailLog(t.dataSource);
    await request(t.server)
      .get(`/api/v1/status/${log.externalMessageId.toUpperCase()}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
  });

  it.each([
    ['a random uuid', randomUUID()],
    ['a malformed id', 'not-a-uuid'],
    ['SQL-looking junk', "1' OR '1'='1"],
  ])('answers 404 not_found for %s', async (_label, id) => {
    const res = await request(t.server)
      .get(`/api/v1/status/${encodeURIComponent(id)}`)
      .set('Authorization', `Bearer ${key}`)
      .expect(404);
    expect(res.body).toEqual({
      error: { code: 'not_found', message: expect.any(String) },
      request_id: res.headers['x-request-id'],
    });
  });
});
