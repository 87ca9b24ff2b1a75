import type { MessageTransitioned } from 'src/modules/emails/message-events.service';
import { eventOfRejection, eventOfTransition } from 'src/modules/event-webhooks/event-types';
import { isBlockedAddress } from 'src/modules/event-webhooks/network-policy';

const transition = (over: Partial<MessageTransitioned>): MessageTransitioned => ({
  eventId: '7',
  emailLogId: '3',
  messageId: '0b9f3c52-6f0e-4d0e-9a51-5a8f1c2d3e4f',
  from: 'processing',
  to: 'sent',
  type: 'sent',
  statusChanged: true,
  cause: 'provider_accepted',
  details: {},
  at: new Date('2026-12-07T08:00:00Z'),
  message: {
    recipient: 'a@x.test',
    stream: 'transactional',
    campaignId: null,
    tag: null,
    batchId: null,
  },
  ...over,
});

describe('eventOfTransition', () => {
  it('maps a status change by the status it reaches, whatever its cause (canceled included)', () => {
    expect(eventOfTransition(transition({}))?.type).toBe('email.sent');
    const canceled = eventOfTransition(
      transition({ to: 'canceled' as never, type: 'canceled', cause: 'cancel' }),
    );
    expect(canceled?.type).toBe('email.canceled');
    expect(canceled?.sourceKey).toBe('e7');
  });

  it.each(['queued', 'processing', 'held', 'retry_scheduled'])(
    'sends nothing for the internal status %s, nor for a cause it does not know',
    (to) => {
      expect(
        eventOfTransition(transition({ to: to as never, type: to, cause: 'claim' })),
      ).toBeNull();
    },
  );

  it('maps an event without a status change by what it records, not the status it stays in', () => {
    const e = eventOfTransition(
      transition({
        from: 'delivered',
        to: 'delivered',
        type: 'clicked',
        statusChanged: false,
        cause: 'click',
        details: { url: 'https://shop.example/a', ip: '203.0.113.7' },
      }),
    );
    expect(e?.type).toBe('email.clicked');
    expect(e?.payload.data).toEqual(
      expect.objectContaining({
        url: 'https://shop.example/a',
        ip: '203.0.113.7',
        user_agent: null,
      }),
    );
  });

  it('describes a bounce with its type, reason and diagnostic', () => {
    const e = eventOfTransition(
      transition({
        to: 'bounced',
        type: 'bounced',
        cause: 'bounce',
        details: {
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
          output: '550 5.1.1 no',
          smtp_code: '550',
          enhanced_code: '5.1.1',
        },
      }),
    );
    expect(e?.payload.data).toEqual(
      expect.objectContaining({
        bounce_type: 'hard',
        reason: 'user_unknown',
        diagnostic: '550 5.1.1 no',
        smtp_code: '550',
        enhanced_code: '5.1.1',
      }),
    );
  });
});

describe('eventOfRejection', () => {
  it('is email.suppressed without a message id', () => {
    const e = eventOfRejection({
      rejectionId: '9',
      recipient: 'b@x.test',
      stream: 'broadcast',
      campaignId: 'c',
      tag: null,
      batchId: null,
      reason: 'complaint',
      at: new Date('2026-12-07T08:00:00Z'),
    });
    expect(e.sourceKey).toBe('r9');
    expect(e.payload).toEqual({
      type: 'email.suppressed',
      created_at: '2026-12-07T08:00:00.000Z',
      data: {
        message_id: null,
        recipient: 'b@x.test',
        stream: 'broadcast',
        campaign_id: 'c',
        tag: null,
        batch_id: null,
        reason: 'complaint',
      },
    });
  });
});

describe('isBlockedAddress', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
    'not an address',
  ])('blocks %s', (a) => expect(isBlockedAddress(a)).toBe(true));

  it.each(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34'])(
    'allows the public address %s',
    (a) => expect(isBlockedAddress(a)).toBe(false),
  );
});
