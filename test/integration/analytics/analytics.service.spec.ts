import { DataSource } from 'typeorm';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import type { EmailEventType } from 'src/modules/emails/email-event.entity';
import type { EmailLog } from 'src/modules/emails/email-log.entity';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(120_000);

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** The seeded hour: ten days ago, inside event retention, and nothing else writes into it. */
const H = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 10 * DAY_MS);
const at = (minutes: number, base = H): Date => new Date(base.getTime() + minutes * 60_000);

interface StoredStat {
  domain: string | null;
  sent: number;
  delivered: number;
  bounced_hard: number;
  bounced_soft: number;
  complained: number;
  opened: number;
  clicked: number;
  delivery_rate: string;
  bounce_rate: string;
  complaint_rate: string;
}

/** The counters of a row, as the tests write them. */
const counts = (
  sent: number,
  delivered = 0,
  bouncedHard = 0,
  bouncedSoft = 0,
  complained = 0,
  opened = 0,
  clicked = 0,
) => ({ sent, delivered, bouncedHard, bouncedSoft, complained, opened, clicked });

describe(AnalyticsService.name, () => {
  let t: TestApp;
  let ds: DataSource;
  let service: AnalyticsService;
  let seq = 0;

  /** A message to `domain` with its events, each `[type, minutes after base, details]`. */
  const message = async (
    domain: string,
    events: Array<[EmailEventType, number, Record<string, unknown>?]>,
    base = H,
    overrides: Partial<EmailLog> = {},
  ): Promise<EmailLog> => {
    const log = await makeEmailLog(ds, {
      recipient: `User${++seq}@${domain.toUpperCase()}`,
      ...overrides,
    });
    for (const [type, minutes, details] of events) {
      await makeEmailEvent(ds, log, type, {
        occurredAt: at(minutes, base),
        details: details ?? {},
      });
    }
    return log;
  };

  /** The all-streams rows of an hour (each stream has rows of its own too). */
  const storedRows = (hour: Date): Promise<StoredStat[]> =>
    ds.query(
      `SELECT domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked,
              delivery_rate, bounce_rate, complaint_rate
         FROM hourly_stats WHERE hour = $1 AND stream IS NULL ORDER BY domain NULLS FIRST`,
      [hour],
    );

  /** Counts every SQL statement the app sends while `fn` runs. */
  const countQueries = async <T>(fn: () => Promise<T>): Promise<{ result: T; sql: string[] }> => {
    const spy = jest.spyOn(ds.logger, 'logQuery');
    try {
      const result = await fn();
      return { result, sql: spy.mock.calls.map(([q]) => q) };
    } finally {
      spy.mockRestore();
    }
  };

  beforeAll(async () => {
    t = await bootTestApp({ RETENTION_EVENTS_DAYS: '90', RETENTION_WEBHOOK_EVENTS_DAYS: '30' });
    ds = t.dataSource;
    service = t.app.get(AnalyticsService);
  });
  afterAll(() => t.close());

  describe('aggregateHour', () => {
    const domain = (i: number) => `d${String(i).padStart(2, '0')}.test`;

    beforeAll(async () => {
      // d01 … d12 send 12 … 1 messages in H, so the top 10 is d01 … d10.
      for (let i = 1; i <= 12; i += 1) {
        for (let k = 0; k < 13 - i; k += 1) {
          const events: Array<[EmailEventType, number, Record<string, unknown>?]> = [
            ['queued', 4],
            ['sent', 5],
          ];
          if (i === 1) {
            if (k < 10) events.push(['delivered', 6]);
            if (k === 10) events.push(['bounced', 7, { bounce_type: 'hard', smtp_code: '550' }]);
            if (k === 11) events.push(['bounced', 7, { bounce_type: 'soft', smtp_code: '452' }]);
            // Three opens and two clicks of one message count once each.
            if (k === 0) events.push(['opened', 10], ['opened', 20], ['opened', 30]);
            if (k === 0) events.push(['clicked', 11], ['clicked', 21]);
            if (k === 1 || k === 2) events.push(['opened', 15]);
            if (k === 1) events.push(['clicked', 16]);
            if (k === 3) events.push(['complained', 40]);
          }
          if (i === 2) {
            if (k < 9) events.push(['delivered', 6], ['delayed', 5.5]);
            // No bounce_type: unknown counts as soft.
            if (k === 9) events.push(['bounced', 7, { smtp_code: '451' }]);
            if (k === 10) events.push(['bounced', 7, { bounce_type: 'hard' }]);
            if (k === 10) events.push(['bounced', 8, { bounce_type: 'hard' }]);
          }
          if (i === 3) events.push(['delivered', 6]);
          await message(domain(i), events);
        }
      }
      // Sent just before H (not counted), delivered in H (counted), opened at the end of H
      // (which belongs to the next hour).
      await message(domain(3), [
        ['sent', -0.001],
        ['delivered', 1],
        ['opened', 60],
      ]);
      // Everything an hour later or earlier stays out.
      await message(domain(12), [
        ['sent', 65],
        ['delivered', 70],
      ]);
      await message(domain(12), [
        ['sent', -30],
        ['complained', -1],
      ]);
    });

    it('stores the global row and the top 10 domains with every counter and rate', async () => {
      const { global, domains } = await service.aggregateHour(H);

      expect(global).toEqual({
        hour: H,
        domain: null,
        stream: null,
        ...counts(78, 30, 2, 2, 1, 3, 2),
        deliveryRate: 38.46,
        bounceRate: 5.13,
        complaintRate: 1.2821,
      });
      expect(domains.map((d) => d.domain)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(domain));
      expect(domains.slice(0, 4)).toEqual([
        {
          hour: H,
          domain: domain(1),
          stream: null,
          ...counts(12, 10, 1, 1, 1, 3, 2),
          deliveryRate: 83.33,
          bounceRate: 16.67,
          complaintRate: 8.3333,
        },
        {
          hour: H,
          domain: domain(2),
          stream: null,
          ...counts(11, 9, 1, 1),
          deliveryRate: 81.82,
          bounceRate: 18.18,
          complaintRate: 0,
        },
        // 11 delivered of 10 sent (one was sent the hour before): capped at 100 %.
        {
          hour: H,
          domain: domain(3),
          stream: null,
          ...counts(10, 11),
          deliveryRate: 100,
          bounceRate: 0,
          complaintRate: 0,
        },
        {
          hour: H,
          domain: domain(4),
          stream: null,
          ...counts(9),
          deliveryRate: 0,
          bounceRate: 0,
          complaintRate: 0,
        },
      ]);

      const rows = await storedRows(H);
      expect(rows).toHaveLength(11);
      expect(rows[0]).toEqual({
        domain: null,
        sent: 78,
        delivered: 30,
        bounced_hard: 2,
        bounced_soft: 2,
        complained: 1,
        opened: 3,
        clicked: 2,
        delivery_rate: '38.46',
        bounce_rate: '5.13',
        complaint_rate: '1.2821',
      });
      expect(rows.find((r) => r.domain === domain(1))).toEqual({
        domain: domain(1),
        sent: 12,
        delivered: 10,
        bounced_hard: 1,
        bounced_soft: 1,
        complained: 1,
        opened: 3,
        clicked: 2,
        delivery_rate: '83.33',
        bounce_rate: '16.67',
        complaint_rate: '8.3333',
      });
      expect(rows.map((r) => r.domain)).not.toContain(domain(11));
    });

    it('reads email_events with one grouped query per level', async () => {
      const { sql } = await countQueries(() => service.aggregateHour(H));
      const reads = sql.filter((q) => /FROM email_events/.test(q));
      expect(reads).toHaveLength(2);
      // Both levels read events only: each event carries its message's recipient domain.
      expect(reads.filter((q) => /JOIN email_logs/.test(q))).toHaveLength(0);
      expect(reads.filter((q) => /GROUPING SETS \(\(e\.recipient_domain\)/.test(q))).toHaveLength(
        1,
      );
      expect(reads.every((q) => /count\(DISTINCT e\.email_log_id\) FILTER/.test(q))).toBe(true);
    });

    it('replaces the hour when run again: same rows, one global row, no duplicates', async () => {
      const before = await storedRows(H);
      const ids: Array<{ id: string }> = await ds.query(
        `SELECT id FROM hourly_stats WHERE hour = $1 ORDER BY id`,
        [H],
      );

      await service.aggregateHour(new Date(H.getTime() + 30 * 60_000));

      await expect(storedRows(H)).resolves.toEqual(before);
      await expect(
        ds.query(`SELECT id FROM hourly_stats WHERE hour = $1 ORDER BY id`, [H]),
      ).resolves.toEqual(ids);
      await expect(
        ds.query(
          `SELECT count(*)::int AS n FROM hourly_stats WHERE hour = $1 AND domain IS NULL AND stream IS NULL`,
          [H],
        ),
      ).resolves.toEqual([{ n: 1 }]);
    });

    it('rejects a second global row for the hour (NULLS NOT DISTINCT)', async () => {
      // The violation is expected: keep TypeORM from printing it.
      jest.spyOn(ds.logger, 'logQueryError').mockImplementationOnce(() => undefined);
      await expect(
        ds.query(`INSERT INTO hourly_stats (hour, domain) VALUES ($1, NULL)`, [H]),
      ).rejects.toMatchObject({ code: '23505', constraint: 'idx_hourly_stats_hour_stream_domain' });
    });

    it('deletes the rows of domains that fell out of the top 10 on a re-run', async () => {
      for (let k = 0; k < 20; k += 1) await message(domain(11), [['sent', 50]]);

      const { global, domains } = await service.aggregateHour(H);

      expect(global.sent).toBe(98);
      expect(domains[0]).toMatchObject({ domain: domain(11), sent: 22 });
      const stored = (await storedRows(H)).map((r) => r.domain);
      expect(stored).toHaveLength(11);
      expect(stored).toContain(domain(11));
      expect(stored).not.toContain(domain(10));
    });

    it('stores a zero global row and no domain rows for an hour without events', async () => {
      const empty = new Date(H.getTime() - DAY_MS);

      await expect(service.aggregateHour(empty)).resolves.toEqual({
        global: {
          hour: empty,
          domain: null,
          stream: null,
          ...counts(0),
          deliveryRate: 0,
          bounceRate: 0,
          complaintRate: 0,
        },
        domains: [],
        streams: [
          expect.objectContaining({ stream: 'transactional', domains: [] }),
          expect.objectContaining({ stream: 'broadcast', domains: [] }),
        ],
      });
      await expect(storedRows(empty)).resolves.toHaveLength(1);
    });

    it('clamps a complaint rate above what numeric(5,4) holds to 9.9999', async () => {
      const hour = new Date(H.getTime() - 2 * DAY_MS);
      await message(
        'clamp.test',
        [
          ['sent', 1],
          ['complained', 2],
        ],
        hour,
      );
      await message('clamp.test', [['sent', 1]], hour);

      const { global } = await service.aggregateHour(hour);

      expect(global).toMatchObject({ sent: 2, complained: 1, complaintRate: 9.9999 });
      const [row] = await storedRows(hour);
      expect(row.complaint_rate).toBe('9.9999');
    });
  });

  describe('hourSnapshot', () => {
    it('answers the stored rows of the hour, domains busiest first', async () => {
      const snapshot = await service.hourSnapshot(new Date(H.getTime() + 59 * 60_000));

      expect(snapshot.global).toMatchObject({
        hour: H,
        domain: null,
        stream: null,
        sent: 98,
        complaintRate: 1.0204,
      });
      expect(snapshot.domains).toHaveLength(10);
      expect(snapshot.domains[0]).toMatchObject({ domain: 'd11.test', sent: 22, deliveryRate: 0 });
      expect(snapshot.domains.map((d) => d.sent)).toEqual(
        [...snapshot.domains.map((d) => d.sent)].sort((a, b) => b - a),
      );
    });

    it('answers no global row for an hour the job has not stored', async () => {
      await expect(service.hourSnapshot(new Date(H.getTime() + 5 * HOUR_MS))).resolves.toEqual({
        global: null,
        domains: [],
        streams: [
          { stream: 'transactional', global: null, domains: [] },
          { stream: 'broadcast', global: null, domains: [] },
        ],
      });
    });
  });

  describe('topErrors', () => {
    it('groups errors by SMTP code and text with the addresses redacted', async () => {
      const from = new Date();
      for (const to of ['ann@err.test', 'Bob.Smith+tag@Err.Test']) {
        await makeEmailLog(ds, {
          recipient: to,
          status: 'bounced',
          smtpCode: '550',
          errorMessage: `550 5.1.1 <${to}>:   user unknown`,
        });
      }
      await makeEmailLog(ds, { status: 'failed', errorMessage: 'postal: NoContent: empty' });

      await expect(service.topErrors(from, new Date(Date.now() + 1000), 10)).resolves.toEqual([
        { smtpCode: '550', message: '550 5.1.1 <[email]>: user unknown', count: 2 },
        { smtpCode: null, message: 'postal: NoContent: empty', count: 1 },
      ]);
    });
  });

  describe('refreshCampaignStats', () => {
    const now = new Date();
    const daysAgo = (d: number) => new Date(now.getTime() - d * DAY_MS);

    it('recomputes the totals of campaigns with a message accepted in the last 7 days', async () => {
      const active = `active-${Date.now()}`;
      const stale = `stale-${Date.now()}`;
      const sent = { status: 'delivered' as const, sentAt: now, campaignId: active };
      await message('c.test', [], now, {
        ...sent,
        deliveredAt: now,
        openedAt: now,
        clickedAt: now,
      });
      await message('c.test', [], now, { ...sent, deliveredAt: now, openedAt: now });
      await message('c.test', [], now, {
        ...sent,
        status: 'bounced',
        bounceType: 'hard',
      });
      await message('c.test', [], now, { ...sent, status: 'complained', deliveredAt: now });
      const unsubscribed = await message('c.test', [['unsubscribed', 0]], now, {
        ...sent,
        deliveredAt: now,
      });
      await makeEmailEvent(ds, unsubscribed, 'unsubscribed'); // twice: still one message
      // Old messages of the active campaign count too; a campaign idle for 8 days is left.
      const old = await message('c.test', [], now, { ...sent, deliveredAt: now });
      const idle = await message('c.test', [], now, { ...sent, campaignId: stale });
      await ds.query(`UPDATE email_logs SET created_at = $2 WHERE id = ANY($1::bigint[])`, [
        [old.id, idle.id],
        daysAgo(8),
      ]);
      await message('c.test', [], now, { campaignId: active }); // still queued
      await ds.query(
        `INSERT INTO campaign_stats (campaign_id, total_sent, total_delivered) VALUES ($1, 99, 99)`,
        [active],
      );

      await expect(service.refreshCampaignStats(now)).resolves.toBe(1);

      await expect(
        ds.query(
          `SELECT campaign_id, total_sent, total_delivered, total_bounced, total_complained,
                  total_opened, total_clicked, total_unsubscribed, updated_at > now() - interval '1 minute' AS fresh
             FROM campaign_stats WHERE campaign_id = ANY($1::varchar[])`,
          [[active, stale]],
        ),
      ).resolves.toEqual([
        {
          campaign_id: active,
          total_sent: 6,
          total_delivered: 5,
          total_bounced: 1,
          total_complained: 1,
          total_opened: 2,
          total_clicked: 1,
          total_unsubscribed: 1,
          fresh: true,
        },
      ]);
    });
  });

  describe('prune', () => {
    const now = new Date();
    const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);

    it('keeps an old transition that a consumer group has not been given yet (the outbox)', async () => {
      const log = await message('outbox-prune.test', []);
      await ds.query(`DELETE FROM outbox_cursors`);
      await ds.query(
        `INSERT INTO email_events (email_log_id, event_type, occurred_at, from_status, cause, tx)
         VALUES ($1, 'sent', $2, 'processing', 'provider_accepted', 100),
                ($1, 'delivered', $2, 'sent', 'delivered', 300)`,
        [log.id, ago(200)],
      );
      const events = async () =>
        (
          await ds.query(
            `SELECT event_type FROM email_events WHERE email_log_id = $1 ORDER BY id`,
            [log.id],
          )
        ).map((r: { event_type: string }) => r.event_type);

      // No consumer group has a position yet: nothing published may go.
      await service.prune(now);
      expect(await events()).toEqual(['sent', 'delivered']);

      // Two groups; the slower one has been given the first transition only.
      await ds.query(
        `INSERT INTO outbox_cursors (name, last_tx, last_id) VALUES ('fast', 1000, 0), ('slow', 200, 0)`,
      );
      await service.prune(now);
      expect(await events()).toEqual(['delivered']);

      await ds.query(`UPDATE outbox_cursors SET last_tx = 1000`);
      await service.prune(now);
      expect(await events()).toEqual([]);
      await ds.query(`DELETE FROM outbox_cursors`);
    });

    it('deletes, in batches, exactly what is past retention and returns the counts', async () => {
      await ds.query(`DELETE FROM hourly_stats`);
      await ds.query(
        `INSERT INTO idempotency_keys (api_key_id, key, request_hash, created_at, expires_at)
         VALUES (1, 'expired-1', repeat('a', 64), $1, $1), (1, 'expired-2', repeat('a', 64), $1, $1),
                (1, 'live', repeat('a', 64), $2, $2)`,
        [ago(2), new Date(now.getTime() + HOUR_MS)],
      );
      await ds.query(
        `INSERT INTO webhook_events (uuid, event, payload, received_at)
         SELECT 'wh-' || g, 'MessageSent', '{}'::jsonb, $1::timestamptz FROM generate_series(1, 2) g
         UNION ALL SELECT 'wh-new', 'MessageSent', '{}'::jsonb, $2::timestamptz`,
        [ago(31), ago(29)],
      );
      const log = await message('prune.test', []);
      // More than one batch of 10,000 old events, and one event just inside retention.
      await ds.query(
        `INSERT INTO email_events (email_log_id, event_type, occurred_at)
         SELECT $1::bigint, 'opened', $2::timestamptz FROM generate_series(1, 10005)`,
        [log.id, ago(91)],
      );
      await makeEmailEvent(ds, log, 'opened', { occurredAt: ago(89) });
      await ds.query(
        `INSERT INTO hourly_stats (hour, domain) VALUES ($1, NULL), ($1, 'x.test'), ($2, NULL)`,
        [new Date(Math.floor(ago(401).getTime() / HOUR_MS) * HOUR_MS), ago(399)],
      );

      // Suppressions past their expiry (e.g. mirrored from Postal's list) are pruned too.
      await ds.query(
        `INSERT INTO blacklists (email, email_hash, reason, expires_at)
         VALUES ('gone@x.test', repeat('a', 64), 'hard_bounce', now() - interval '1 second'),
                ('live@x.test', repeat('b', 64), 'hard_bounce', now() + interval '1 day'),
                ('forever@x.test', repeat('c', 64), 'complaint', NULL)`,
      );

      await expect(service.prune(now)).resolves.toEqual({
        idempotencyKeys: 2,
        webhookEvents: 2,
        emailEvents: 10005,
        hourlyStats: 2,
        expiredSuppressions: 1,
      });
      await expect(ds.query(`SELECT email FROM blacklists ORDER BY email`)).resolves.toEqual([
        { email: 'forever@x.test' },
        { email: 'live@x.test' },
      ]);

      await expect(ds.query(`SELECT key FROM idempotency_keys`)).resolves.toEqual([
        { key: 'live' },
      ]);
      await expect(ds.query(`SELECT uuid FROM webhook_events`)).resolves.toEqual([
        { uuid: 'wh-new' },
      ]);
      await expect(
        ds.query(`SELECT count(*)::int AS n FROM email_events WHERE email_log_id = $1`, [log.id]),
      ).resolves.toEqual([{ n: 1 }]);
      await expect(ds.query(`SELECT count(*)::int AS n FROM hourly_stats`)).resolves.toEqual([
        { n: 1 },
      ]);
      // Nothing left to prune: a second run deletes nothing.
      await expect(service.prune(now)).resolves.toEqual({
        idempotencyKeys: 0,
        webhookEvents: 0,
        emailEvents: 0,
        hourlyStats: 0,
        expiredSuppressions: 0,
      });
    });
  });

  describe('runDaily', () => {
    it('refreshes campaign stats and prunes, returning both counts', async () => {
      await expect(service.runDaily()).resolves.toEqual({
        campaigns: 1,
        pruned: {
          idempotencyKeys: 0,
          webhookEvents: 0,
          emailEvents: 0,
          hourlyStats: 0,
          expiredSuppressions: 0,
        },
      });
    });
  });
});
