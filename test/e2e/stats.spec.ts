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
const DAY_MS = 24 * HOUR_MS;

interface Counts {
  sent: number;
  delivered: number;
  bounced: number;
  bounced_hard: number;
  bounced_soft: number;
  complained: number;
  opened: number;
  clicked: number;
}

const counts = (c: Partial<Counts> = {}): Counts => {
  const hard = c.bounced_hard ?? 0;
  const soft = c.bounced_soft ?? 0;
  return {
    sent: 0,
    delivered: 0,
    complained: 0,
    opened: 0,
    clicked: 0,
    ...c,
    bounced_hard: hard,
    bounced_soft: soft,
    bounced: hard + soft,
  };
};

const add = (a: Counts, b: Counts): Counts =>
  Object.fromEntries(
    Object.keys(a).map((k) => [k, a[k as keyof Counts] + b[k as keyof Counts]]),
  ) as unknown as Counts;

describe('Stats API (e2e)', () => {
  let t: TestApp;
  let key: string;
  let sendKey: string;
  let seq = 0;
  /** Start of the current hour when the data was seeded. */
  let current: Date;
  const hoursAgo = (n: number) => new Date(current.getTime() - n * HOUR_MS);
  const iso = (d: Date) => d.toISOString();

  const get = (query: Record<string, string> = {}, apiKey = key) =>
    request(t.server).get('/api/v1/stats').query(query).set('Authorization', `Bearer ${apiKey}`);

  /** A message with its events, each `[type, ms after `at`, details]`. */
  const message = async (
    domain: string,
    at: Date,
    events: Array<[EmailEventType, number, Record<string, unknown>?]>,
    overrides: Partial<EmailLog> = {},
  ): Promise<EmailLog> => {
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
    return log;
  };

  /*
   * Seeded numbers (distinct messages):
   *   3 h ago (stored):  a.test 4 sent (camp-1), 3 delivered, 1 hard bounce;
   *                      b.test 2 sent, 2 delivered, 1 opened (twice), 1 clicked
   *   30 h ago (stored): a.test 5 sent, 1 soft bounce
   *   current hour (live, never stored): a.test 2 sent, 1 delivered;
   *                      c.test 1 sent (camp-1), 1 complained
   */
  const H3 = { a: counts({ sent: 4, delivered: 3, bounced_hard: 1 }) } as Record<string, Counts>;
  H3.b = counts({ sent: 2, delivered: 2, opened: 1, clicked: 1 });
  const H30 = { a: counts({ sent: 5, bounced_soft: 1 }) };
  const LIVE = { a: counts({ sent: 2, delivered: 1 }), c: counts({ sent: 1, complained: 1 }) };

  beforeAll(async () => {
    // The live hour must not roll over while the file runs.
    const intoHour = Date.now() % HOUR_MS;
    if (intoHour > HOUR_MS - 2 * 60_000) await sleep(HOUR_MS - intoHour + 1000);
    current = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS);

    t = await bootTestApp({ RATE_LIMIT_IP_PER_MIN: '100000', RATE_LIMIT_KEY_PER_MIN: '100000' });
    key = await t.createKey('full');
    sendKey = await t.createKey('send');

    const h3 = hoursAgo(3);
    for (let i = 0; i < 4; i += 1) {
      const events: Array<[EmailEventType, number, Record<string, unknown>?]> = [['sent', 1000]];
      events.push(i < 3 ? ['delivered', 2000] : ['bounced', 2000, { bounce_type: 'hard' }]);
      await message('a.test', h3, events, { campaignId: 'camp-1' });
    }
    for (let i = 0; i < 2; i += 1) {
      const events: Array<[EmailEventType, number, Record<string, unknown>?]> = [
        ['sent', 1000],
        ['delivered', 2000],
      ];
      if (i === 0) events.push(['opened', 3000], ['opened', 4000], ['clicked', 5000]);
      await message('b.test', h3, events);
    }
    const h30 = hoursAgo(30);
    for (let i = 0; i < 5; i += 1) {
      const events: Array<[EmailEventType, number, Record<string, unknown>?]> = [['sent', 1000]];
      if (i === 0) events.push(['bounced', 2000, { bounce_type: 'soft' }]);
      await message('a.test', h30, events);
    }
    const analytics = t.app.get(AnalyticsService);
    await analytics.aggregateHour(h3);
    await analytics.aggregateHour(h30);

    const now = new Date();
    await message('a.test', now, [
      ['sent', 0],
      ['delivered', 0],
    ]);
    await message('a.test', now, [['sent', 0]]);
    await message(
      'c.test',
      now,
      [
        ['sent', 0],
        ['complained', 0],
      ],
      { campaignId: 'camp-1' },
    );

    // Errors (no events): two texts that differ only by the address, and one failure.
    await makeEmailLog(t.dataSource, {
      recipient: 'ann@a.test',
      status: 'bounced',
      smtpCode: '550',
      errorMessage: '550 5.1.1 <ann@a.test>: Recipient address rejected: User unknown',
    });
    await makeEmailLog(t.dataSource, {
      recipient: 'bob.smith+x@a.test',
      status: 'bounced',
      smtpCode: '550',
      errorMessage: '550 5.1.1  <bob.smith+x@a.test>: Recipient address rejected: User unknown',
      campaignId: 'camp-1',
    });
    await makeEmailLog(t.dataSource, {
      recipient: 'cy@b.test',
      status: 'failed',
      errorMessage: 'postal: NoContent: There is no content',
    });
    // A transient error of a message since sent again is not an error any more.
    await makeEmailLog(t.dataSource, {
      recipient: 'dee@b.test',
      status: 'delivered',
      errorMessage: 'connect ETIMEDOUT',
    });
  });
  afterAll(() => t.close());

  const USER_UNKNOWN = {
    smtp_code: '550',
    message: '550 5.1.1 <[email]>: Recipient address rejected: User unknown',
  };

  describe('GET /api/v1/stats', () => {
    it('answers the last 24 hours from hourly_stats plus the live current hour', async () => {
      const res = await get().expect(200);

      const totals = [H3.a, H3.b, LIVE.a, LIVE.c].reduce(add, counts());
      expect(totals).toEqual(
        counts({
          sent: 9,
          delivered: 6,
          bounced_hard: 1,
          complained: 1,
          opened: 1,
          clicked: 1,
        }),
      );
      const rates = {
        delivery_rate: 66.67,
        bounce_rate: 11.11,
        complaint_rate: 11.11,
        open_rate: 16.67,
        click_rate: 16.67,
      };
      const none = {
        delivery_rate: 0,
        bounce_rate: 0,
        complaint_rate: 0,
        open_rate: 0,
        click_rate: 0,
      };
      expect(res.body).toEqual({
        totals,
        rates,
        // Every seeded message is transactional (the default stream).
        by_stream: {
          transactional: { totals, rates },
          broadcast: { totals: counts(), rates: none },
        },
        series: expect.any(Array),
        by_domain: [
          {
            domain: 'a.test',
            sent: 6,
            delivered: 4,
            bounced: 1,
            complained: 0,
            bounce_rate: 16.67,
            complaint_rate: 0,
          },
          {
            domain: 'b.test',
            sent: 2,
            delivered: 2,
            bounced: 0,
            complained: 0,
            bounce_rate: 0,
            complaint_rate: 0,
          },
          {
            domain: 'c.test',
            sent: 1,
            delivered: 0,
            bounced: 0,
            complained: 1,
            bounce_rate: 0,
            complaint_rate: 100,
          },
        ],
        top_errors: [
          { ...USER_UNKNOWN, count: 2 },
          { smtp_code: null, message: 'postal: NoContent: There is no content', count: 1 },
        ],
      });
      const series = res.body.series as Array<Counts & { at: string }>;
      expect(series).toHaveLength(24);
      expect(series[0].at).toBe(iso(hoursAgo(23)));
      expect(series[23]).toEqual({ at: iso(current), ...add(LIVE.a, LIVE.c) });
      expect(series[20]).toEqual({ at: iso(hoursAgo(3)), ...add(H3.a, H3.b) });
      const others = series.filter((_, i) => i !== 20 && i !== 23);
      expect(others).toEqual(others.map((p) => ({ at: p.at, ...counts() })));
    });

    it('computes the live hour without storing it', async () => {
      await get().expect(200);

      await expect(
        t.dataSource.query(`SELECT count(*)::int AS n FROM hourly_stats WHERE hour >= $1`, [
          hoursAgo(1),
        ]),
      ).resolves.toEqual([{ n: 0 }]);
    });

    it('sums hours into UTC days with granularity=day', async () => {
      const from = hoursAgo(48);
      const to = new Date(current.getTime() + HOUR_MS);
      const res = await get({ from: iso(from), to: iso(to), granularity: 'day' }).expect(200);

      const day = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
      const expected = new Map<string, Counts>();
      for (let d = day(from).getTime(); d < to.getTime(); d += DAY_MS) {
        expected.set(iso(new Date(d)), counts());
      }
      const put = (at: Date, c: Counts) => {
        const k = iso(day(at));
        expected.set(k, add(expected.get(k)!, c));
      };
      put(hoursAgo(30), H30.a);
      put(hoursAgo(3), add(H3.a, H3.b));
      put(current, add(LIVE.a, LIVE.c));

      expect(res.body.series).toEqual([...expected].map(([at, c]) => ({ at, ...c })));
      expect(res.body.totals).toEqual([H30.a, H3.a, H3.b, LIVE.a, LIVE.c].reduce(add, counts()));
      expect(res.body.by_domain[0]).toMatchObject({ domain: 'a.test', sent: 11, bounced: 2 });
    });

    it('answers one domain from its rows and its live hour with domain=', async () => {
      const res = await get({ domain: ' A.TEST ' }).expect(200);

      const totals = add(H3.a, LIVE.a);
      expect(res.body.totals).toEqual(totals);
      expect(res.body.rates).toEqual({
        delivery_rate: 66.67,
        bounce_rate: 16.67,
        complaint_rate: 0,
        open_rate: 0,
        click_rate: 0,
      });
      expect(res.body.by_domain).toEqual([
        {
          domain: 'a.test',
          sent: 6,
          delivered: 4,
          bounced: 1,
          complained: 0,
          bounce_rate: 16.67,
          complaint_rate: 0,
        },
      ]);
      const series = res.body.series as Array<Counts & { at: string }>;
      expect(series[20]).toEqual({ at: iso(hoursAgo(3)), ...H3.a });
      expect(series[23]).toEqual({ at: iso(current), ...LIVE.a });
      expect(res.body.top_errors).toEqual([{ ...USER_UNKNOWN, count: 2 }]);
    });

    it('computes a campaign from its events with campaign_id=', async () => {
      const res = await get({ campaign_id: 'camp-1' }).expect(200);

      expect(res.body.totals).toEqual(add(H3.a, LIVE.c));
      const series = res.body.series as Array<Counts & { at: string }>;
      expect(series[20]).toEqual({ at: iso(hoursAgo(3)), ...H3.a });
      expect(series[23]).toEqual({ at: iso(current), ...LIVE.c });
      expect(res.body.by_domain.map((d: { domain: string }) => d.domain)).toEqual([
        'a.test',
        'c.test',
      ]);
      expect(res.body.top_errors).toEqual([{ ...USER_UNKNOWN, count: 1 }]);
    });

    it('combines campaign_id and domain', async () => {
      const res = await get({ campaign_id: 'camp-1', domain: 'c.test' }).expect(200);

      expect(res.body.totals).toEqual(LIVE.c);
      expect(res.body.by_domain).toEqual([
        {
          domain: 'c.test',
          sent: 1,
          delivered: 0,
          bounced: 0,
          complained: 1,
          bounce_rate: 0,
          complaint_rate: 100,
        },
      ]);
    });

    it('answers zeros for a window without data', async () => {
      const res = await get({ from: '2020-01-01', to: '2020-01-02' }).expect(200);

      expect(res.body.totals).toEqual(counts());
      expect(res.body.series).toHaveLength(24);
      expect(res.body.by_domain).toEqual([]);
      expect(res.body.top_errors).toEqual([]);
    });

    it.each([
      ['a from that is not a date', { from: 'yesterday' }, 'from'],
      ['a to without a zone', { to: '2026-01-01T10:00:00' }, 'to'],
      ['an impossible date', { from: '2026-02-30' }, 'from'],
      ['an unknown granularity', { granularity: 'week' }, 'granularity'],
      ['a domain that is not a hostname', { domain: 'not a domain!' }, 'domain'],
      ['an empty campaign_id', { campaign_id: '' }, 'campaign_id'],
      ['a campaign_id over 255 characters', { campaign_id: 'x'.repeat(256) }, 'campaign_id'],
      ['from after to', { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'from'],
      ['from equal to to', { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'from'],
      [
        'a window over 400 days',
        { from: '2025-01-01T00:00:00Z', to: '2026-02-06T00:00:00Z' },
        'to',
      ],
      ['an unknown parameter', { limit: '5' }, 'limit'],
    ])('answers 400 validation_error for %s', async (_, query, field) => {
      const res = await get(query as Record<string, string>).expect(400);

      expect(res.body).toEqual({
        error: {
          code: 'validation_error',
          message: expect.any(String),
          details: expect.arrayContaining([{ field, message: expect.any(String) }]),
        },
        request_id: res.headers['x-request-id'],
      });
    });

    it('accepts a window of exactly 400 days', async () => {
      await get({ from: '2025-01-01T00:00:00Z', to: '2026-02-05T00:00:00Z' }).expect(200);
    });

    it('reads the previous hour live until the hourly job stores it, then from its rows', async () => {
      const previous = hoursAgo(1);
      await message('b.test', previous, [
        ['sent', 1000],
        ['delivered', 2000],
      ]);
      const point = async () =>
        ((await get().expect(200)).body.series as Array<Counts & { at: string }>)[22];

      await expect(point()).resolves.toEqual({
        at: iso(previous),
        ...counts({ sent: 1, delivered: 1 }),
      });

      await t.app.get(AnalyticsService).aggregateHour(previous);
      // An event arriving after the hour was stored is not read again.
      await message('b.test', previous, [['sent', 3000]]);

      await expect(point()).resolves.toEqual({
        at: iso(previous),
        ...counts({ sent: 1, delivered: 1 }),
      });
      const res = await get().expect(200);
      expect(res.body.totals.sent).toBe(10);
      expect(res.body.by_domain[1]).toMatchObject({ domain: 'b.test', sent: 3, delivered: 3 });
    });

    it('answers 403 forbidden to a send-scoped key', async () => {
      const res = await get({}, sendKey).expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });

    it('answers 401 without a key', async () => {
      const res = await request(t.server).get('/api/v1/stats').expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    });
  });
});
