import request from 'supertest';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import type { EmailEventType } from 'src/modules/emails/email-event.entity';
import type { EmailLog } from 'src/modules/emails/email-log.entity';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { sleep } from 'test/utils/wait';

// Long enough to wait out an hour boundary (see beforeAll).
jest.setTimeout(200_000);

const HOUR_MS = 3600_000;

type Ev = Array<[EmailEventType, number, Record<string, unknown>?]>;

/** `GET /api/v1/stats?stream=` (README "Streams"): every figure of one stream, or of all. */
describe('Stats API by stream (e2e)', () => {
  let t: TestApp;
  let key: string;
  let seq = 0;
  let current: Date;
  const hoursAgo = (n: number) => new Date(current.getTime() - n * HOUR_MS);

  const get = (query: Record<string, string> = {}) =>
    request(t.server).get('/api/v1/stats').query(query).set('Authorization', `Bearer ${key}`);

  const message = async (
    domain: string,
    at: Date,
    events: Ev,
    overrides: Partial<EmailLog>,
  ): Promise<void> => {
    const log = await makeEmailLog(t.dataSource, {
      recipient: `user${++seq}@${domain}`,
      ...overrides,
    });
    for (const [type, after, details] of events) {
      await makeEmailEvent(t.dataSource, log, type, {
        occurredAt: new Date(at.getTime() + after),
        details: details ?? {},
      });
    }
  };

  /*
   * 3 h ago (stored): transactional a.test 3 sent, 2 delivered, 1 hard bounce;
   *                   broadcast a.test 2 sent, 2 delivered; broadcast b.test 1 sent, 1 complained
   * current hour (live): transactional c.test 1 sent; broadcast c.test 2 sent, 1 soft bounce
   */
  beforeAll(async () => {
    const intoHour = Date.now() % HOUR_MS;
    if (intoHour > HOUR_MS - 2 * 60_000) await sleep(HOUR_MS - intoHour + 1000);
    current = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS);
    t = await bootTestApp({ RATE_LIMIT_IP_PER_MIN: '100000', RATE_LIMIT_KEY_PER_MIN: '100000' });
    key = await t.createKey('full');

    const h3 = hoursAgo(3);
    const tx = { stream: 'transactional' as const, campaignId: 'camp-tx' };
    const bc = { stream: 'broadcast' as const, campaignId: 'camp-bc' };
    await message(
      'a.test',
      h3,
      [
        ['sent', 1000],
        ['delivered', 2000],
      ],
      tx,
    );
    await message(
      'a.test',
      h3,
      [
        ['sent', 1000],
        ['delivered', 2000],
      ],
      tx,
    );
    await message(
      'a.test',
      h3,
      [
        ['sent', 1000],
        ['bounced', 2000, { bounce_type: 'hard' }],
      ],
      tx,
    );
    await message(
      'a.test',
      h3,
      [
        ['sent', 1000],
        ['delivered', 2000],
      ],
      bc,
    );
    await message(
      'a.test',
      h3,
      [
        ['sent', 1000],
        ['delivered', 2000],
      ],
      bc,
    );
    await message(
      'b.test',
      h3,
      [
        ['sent', 1000],
        ['complained', 2000],
      ],
      bc,
    );
    await t.app.get(AnalyticsService).aggregateHour(h3);

    const now = new Date();
    await message('c.test', now, [['sent', 0]], tx);
    await message('c.test', now, [['sent', 0]], bc);
    await message(
      'c.test',
      now,
      [
        ['sent', 0],
        ['bounced', 0, { bounce_type: 'soft' }],
      ],
      bc,
    );

    await makeEmailLog(t.dataSource, {
      recipient: 'x@a.test',
      status: 'failed',
      stream: 'broadcast',
      errorMessage: 'broadcast failure',
    });
    await makeEmailLog(t.dataSource, {
      recipient: 'y@a.test',
      status: 'failed',
      stream: 'transactional',
      errorMessage: 'transactional failure',
    });
  });
  afterAll(() => t.close());

  it('stores an hour per stream whose rows add up to the all-streams row', async () => {
    const rows: Array<{
      stream: string | null;
      sent: number;
      bounced_hard: number;
      complained: number;
    }> = await t.dataSource.query(
      `SELECT stream, sent, bounced_hard, complained FROM hourly_stats
          WHERE hour = $1 AND domain IS NULL ORDER BY stream NULLS FIRST`,
      [hoursAgo(3)],
    );
    expect(rows).toEqual([
      { stream: null, sent: 6, bounced_hard: 1, complained: 1 },
      { stream: 'broadcast', sent: 3, bounced_hard: 0, complained: 1 },
      { stream: 'transactional', sent: 3, bounced_hard: 1, complained: 0 },
    ]);
    const domains: Array<{ stream: string | null; domain: string; sent: number }> =
      await t.dataSource.query(
        `SELECT stream, domain, sent FROM hourly_stats
          WHERE hour = $1 AND domain IS NOT NULL ORDER BY stream NULLS FIRST, domain`,
        [hoursAgo(3)],
      );
    expect(domains).toEqual([
      { stream: null, domain: 'a.test', sent: 5 },
      { stream: null, domain: 'b.test', sent: 1 },
      { stream: 'broadcast', domain: 'a.test', sent: 2 },
      { stream: 'broadcast', domain: 'b.test', sent: 1 },
      { stream: 'transactional', domain: 'a.test', sent: 3 },
    ]);
  });

  it('answers all streams without stream=, with a per-stream breakdown that adds up', async () => {
    const res = await get().expect(200);

    expect(res.body.totals).toEqual(
      expect.objectContaining({ sent: 9, bounced: 2, complained: 1 }),
    );
    const { transactional, broadcast } = res.body.by_stream;
    expect(transactional.totals).toEqual(
      expect.objectContaining({ sent: 4, delivered: 2, bounced_hard: 1, bounced_soft: 0 }),
    );
    expect(broadcast.totals).toEqual(
      expect.objectContaining({ sent: 5, delivered: 2, bounced_soft: 1, complained: 1 }),
    );
    for (const k of Object.keys(res.body.totals)) {
      expect(transactional.totals[k] + broadcast.totals[k]).toBe(res.body.totals[k]);
    }
    expect(broadcast.rates.complaint_rate).toBe(20);
  });

  it('filters totals, rates, series, domains and errors with stream=broadcast', async () => {
    const res = await get({ stream: 'broadcast' }).expect(200);

    expect(res.body.totals).toEqual(res.body.by_stream.broadcast.totals);
    expect(res.body.rates).toEqual(res.body.by_stream.broadcast.rates);
    expect(res.body.series[20]).toEqual(expect.objectContaining({ sent: 3, complained: 1 }));
    expect(res.body.series[23]).toEqual(expect.objectContaining({ sent: 2, bounced_soft: 1 }));
    expect(
      res.body.by_domain.map((d: { domain: string; sent: number }) => [d.domain, d.sent]),
    ).toEqual([
      ['a.test', 2],
      ['c.test', 2],
      ['b.test', 1],
    ]);
    expect(res.body.top_errors).toEqual([
      { smtp_code: null, message: 'broadcast failure', count: 1 },
    ]);
  });

  it('filters a domain and a campaign by stream too', async () => {
    const domain = await get({ stream: 'transactional', domain: 'a.test' }).expect(200);
    expect(domain.body.totals).toEqual(expect.objectContaining({ sent: 3, bounced_hard: 1 }));

    const campaign = await get({ stream: 'broadcast', campaign_id: 'camp-bc' }).expect(200);
    expect(campaign.body.totals).toEqual(expect.objectContaining({ sent: 5, complained: 1 }));
    const other = await get({ stream: 'transactional', campaign_id: 'camp-bc' }).expect(200);
    expect(other.body.totals.sent).toBe(0);
  });

  it('answers 400 validation_error for an unknown stream', async () => {
    const res = await get({ stream: 'newsletter' }).expect(400);

    expect(res.body).toEqual({
      error: {
        code: 'validation_error',
        message: expect.any(String),
        details: [{ field: 'stream', message: 'stream must be one of: transactional, broadcast' }],
      },
      request_id: res.headers['x-request-id'],
    });
  });
});
