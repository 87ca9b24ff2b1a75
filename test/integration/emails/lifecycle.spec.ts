import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import type { AppConfig } from 'src/config/app-config';
import { BlacklistEntry } from 'src/modules/blacklist/blacklist-entry.entity';
import { BlacklistRepository } from 'src/modules/blacklist/blacklist.repository';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { emailHash } from 'src/modules/blacklist/suppression';
import { DeliveryTransitionsRepository } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import {
  MessageTransitioned,
  TransitionPublisher,
} from 'src/modules/emails/lifecycle/transition-publisher';
import {
  CAUSES,
  FINAL_STATUSES,
  OUTCOME_CAUSES,
  sourcesFor,
  STATUS_RANK,
  type TransitionCause,
} from 'src/modules/emails/lifecycle/transitions';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { MessageWritesRepository } from 'src/modules/emails/message-writes.repository';
import { AnalyticsMaintenanceRepository } from 'src/modules/analytics/analytics-maintenance.repository';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog, type EmailStatus } from 'src/modules/emails/email-log.entity';
import { makeEmailLog } from 'test/utils/factories';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

jest.setTimeout(120_000);

/**
 * Medium tests of the message lifecycle (docs/ARCHITECTURE.md "Message lifecycle",
 * "Transition events"): the state machine's real SQL guards, the outbox publisher and the
 * single suppression rule, against a real database and without HTTP.
 */
describe('message lifecycle against PostgreSQL', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let blacklist: BlacklistService;
  let transitions: TransitionsRepository;
  let delivery: DeliveryTransitionsRepository;
  let writes: MessageWritesRepository;
  let reads: MessageReadsRepository;
  let publisher: TransitionPublisher;
  const received: MessageTransitioned[] = [];
  let failNext = false;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 6 }));
    await ds.initialize();
    blacklist = new BlacklistService(new BlacklistRepository(ds.getRepository(BlacklistEntry)));
    transitions = new TransitionsRepository(ds);
    delivery = new DeliveryTransitionsRepository(ds, blacklist, transitions);
    writes = new MessageWritesRepository(ds);
    reads = new MessageReadsRepository(
      ds.getRepository(EmailLog),
      ds.getRepository(EmailEvent),
      ds,
    );
    publisher = new TransitionPublisher(ds, { hasRole: () => false } as unknown as AppConfig);
    publisher.subscribe('test', (events) => {
      if (failNext) {
        failNext = false;
        throw new Error('consumer crashed');
      }
      received.push(...events);
    });
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  /**
   * Transaction ids are server-wide: a transaction still open in *another* database on this
   * server (other test files) holds the publication horizon back — a delay, never a loss. Wait
   * until every committed outbox row of this database is below it, so a drain sees them all.
   */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3000; i++) {
      const [{ behind }] = await ds.query(
        `SELECT EXISTS (SELECT 1 FROM email_events WHERE cause IS NOT NULL
                          AND tx >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint) AS behind`,
      );
      if (!behind) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the publication horizon did not advance within 60 s');
  };
  const drain = async (): Promise<number> => {
    await settle();
    return publisher.drain();
  };

  const statusOf = async (id: string): Promise<EmailStatus> =>
    (await ds.query(`SELECT status FROM email_logs WHERE id = $1`, [id]))[0].status;

  /** Runs `cause` through the code that performs it in production. */
  const perform = async (
    log: { id: string; externalMessageId: string },
    cause: Exclude<TransitionCause, 'accept'>,
  ): Promise<void> => {
    switch (cause) {
      case 'claim':
        return void (await delivery.claimForDelivery(log.externalMessageId, 300));
      case 'reclaim_stale':
        return void (await delivery.claimForDelivery(log.externalMessageId, 0));
      case 'release':
        return delivery.release(log.id);
      case 'transient_error':
        return delivery.recordTransientError(log.id, 'timeout');
      case 'abandoned_claim':
        return void (await transitions.requeueAbandonedClaims(0));
      case 'retry_due':
        await ds.query(`UPDATE email_logs SET next_retry_at = now() WHERE id = $1`, [log.id]);
        return void (await transitions.requeueDueRetries(1000));
      case 'provider_accepted':
        return void (await delivery.markSent(
          log.id,
          { providerMessageId: randomUUID(), providerToken: null, postalMessageId: null },
          null,
        ));
      case 'delivered':
        return void (await transitions.markDelivered(log.id, new Date(), {}));
      case 'delivery_failed':
        return void (await transitions.markFailed(log.id, 'permanent'));
      case 'cancel':
        return void (await transitions.cancelMessage(log.externalMessageId, {}));
      case 'schedule_retry':
        return void (await transitions.transition(
          log.id,
          cause,
          { next_retry_at: new Date() },
          {},
        ));
      default:
        return void (await transitions.transition(log.id, cause, {}, {}));
    }
  };

  /** What the table says `cause` does (reclaim_stale's call also claims a queued message). */
  const model = (status: EmailStatus, cause: TransitionCause): EmailStatus => {
    if (cause === 'reclaim_stale' && sourcesFor('claim').includes(status)) return 'processing';
    return sourcesFor(cause).includes(status) ? CAUSES[cause].to : status;
  };

  const causes = (Object.keys(CAUSES) as TransitionCause[]).filter(
    (c): c is Exclude<TransitionCause, 'accept'> => c !== 'accept',
  );

  it('property: the SQL guards follow the table; nothing leaves a final state or goes backwards', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...causes), { maxLength: 14 }), async (seq) => {
        const log = await makeEmailLog(ds, { status: 'queued' });
        let status: EmailStatus = 'queued';
        const published: Array<{ from: string; to: string; cause: string }> = [];
        for (const cause of seq) {
          await perform(log, cause);
          const expected = model(status, cause);
          const actual = await statusOf(log.id);
          expect({ cause, from: status, to: actual }).toEqual({
            cause,
            from: status,
            to: expected,
          });
          if (FINAL_STATUSES.includes(status)) expect(actual).toBe(status);
          if (OUTCOME_CAUSES.includes(cause))
            expect(STATUS_RANK[actual]).toBeGreaterThanOrEqual(STATUS_RANK[status]);
          // Every change writes its outbox row; the claim call names the cause by what it left.
          const recorded = cause === 'reclaim_stale' && status !== 'processing' ? 'claim' : cause;
          if (sourcesFor(recorded).includes(status))
            published.push({ from: status, to: actual, cause: recorded });
          status = actual;
        }
        // Each transition wrote one outbox row naming where it came from and why.
        const rows: Array<{ from: string; to: string; cause: string }> = await ds.query(
          `SELECT from_status AS "from", event_type AS "to", cause FROM email_events
            WHERE email_log_id = $1 AND cause IS NOT NULL ORDER BY id`,
          [log.id],
        );
        expect(rows).toEqual(published);
      }),
      { numRuns: 25 },
    );
  });

  it('publishes every committed transition as a typed event, with from, to, cause, details and time', async () => {
    await drain();
    received.length = 0;
    const log = await makeEmailLog(ds, { status: 'queued' });
    const before = Date.now();
    await delivery.claimForDelivery(log.externalMessageId);
    await delivery.markSent(
      log.id,
      { providerMessageId: 'p-1', providerToken: null, postalMessageId: null },
      null,
    );
    await transitions.markDelivered(log.id, new Date(), { source: 'postal' });
    await transitions.transition(log.id, 'complaint', {}, { source: 'api' });
    expect(await drain()).toBe(4);
    expect(
      received.map(({ messageId, from, to, cause, details }) => ({
        messageId,
        from,
        to,
        cause,
        details,
      })),
    ).toEqual([
      {
        messageId: log.externalMessageId,
        from: 'queued',
        to: 'processing',
        cause: 'claim',
        details: {},
      },
      {
        messageId: log.externalMessageId,
        from: 'processing',
        to: 'sent',
        cause: 'provider_accepted',
        details: { provider_message_id: 'p-1' },
      },
      {
        messageId: log.externalMessageId,
        from: 'sent',
        to: 'delivered',
        cause: 'delivered',
        details: { source: 'postal' },
      },
      {
        messageId: log.externalMessageId,
        from: 'delivered',
        to: 'complained',
        cause: 'complaint',
        details: { source: 'api' },
      },
    ]);
    for (const e of received) expect(e.at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    // Delivered once: nothing is left for a second drain.
    expect(await drain()).toBe(0);
  });

  it('publishes accepted messages (the queued transition) from the accept path', async () => {
    await drain();
    received.length = 0;
    const id = randomUUID();
    const recipient = `accept-${id.slice(0, 8)}@example.com`;
    const inserted = await writes.insertMessageUnlessSuppressed(
      {
        externalMessageId: id,
        apiKeyId: null,
        templateId: null,
        batchId: null,
        campaignId: null,
        tag: null,
        stream: 'transactional',
        recipient,
        sender: 'shop@example.com',
        subject: 'Hi',
        sendAt: null,
        details: { template_id: null, variables: {}, options: {} },
      } as unknown as Parameters<MessageWritesRepository['insertMessageUnlessSuppressed']>[0],
      emailHash(recipient),
    );
    expect(inserted).toBe(true);
    await drain();
    expect(received.map((e) => [e.messageId, e.from, e.to, e.cause])).toEqual([
      [id, null, 'queued', 'accept'],
    ]);
  });

  it('delivers a page again when a consumer fails before the cursor moved (at least once)', async () => {
    await drain();
    received.length = 0;
    const log = await makeEmailLog(ds, { status: 'sent' });
    await transitions.markDelivered(log.id, new Date(), {});
    failNext = true;
    await expect(drain()).rejects.toThrow('consumer crashed');
    expect(received).toEqual([]);
    expect(await drain()).toBe(1);
    expect(received.map((e) => [e.emailLogId, e.to])).toEqual([[log.id, 'delivered']]);
  });

  it('never skips a transition whose transaction commits after a later one was published', async () => {
    await drain();
    received.length = 0;
    const [slow, fast] = await Promise.all([
      makeEmailLog(ds, { status: 'sent' }),
      makeEmailLog(ds, { status: 'sent' }),
    ]);
    const qr = ds.createQueryRunner();
    await qr.connect();
    try {
      await qr.startTransaction();
      // The slow transaction writes its outbox row first (the lower id) and stays open.
      await qr.query(
        `WITH u AS (UPDATE email_logs SET status = 'held' WHERE id = $1 AND status = 'sent' RETURNING id)
         INSERT INTO email_events (email_log_id, event_type, details, from_status, cause)
         SELECT id, 'held', '{}', 'sent', 'held' FROM u`,
        [slow.id],
      );
      await transitions.markDelivered(fast.id, new Date(), {});
      await publisher.drain(); // the slow one is open: the horizon stops before it
      await qr.commitTransaction();
    } finally {
      await qr.release();
    }
    await drain();
    expect(received.map((e) => [e.emailLogId, e.to]).sort()).toEqual(
      [
        [slow.id, 'held'],
        [fast.id, 'delivered'],
      ].sort(),
    );
  });

  describe('the worker’s own moves and the sweeps are published too (internal causes)', () => {
    /** What was published for one message, after everything committed so far was drained. */
    const publishedFor = async (
      logId: string,
    ): Promise<Array<Pick<MessageTransitioned, 'from' | 'to' | 'cause' | 'details'>>> => {
      await drain();
      return received
        .filter((e) => e.emailLogId === logId)
        .map(({ from, to, cause, details }) => ({ from, to, cause, details }));
    };
    const backdateClaim = (id: string, minutes: number) =>
      ds.query(
        `UPDATE email_logs SET updated_at = now() - make_interval(mins => $2) WHERE id = $1`,
        [id, minutes],
      );

    beforeEach(async () => {
      await drain();
      received.length = 0;
    });

    it('claim, release, transient error and stale reclaim, each with from, cause and details', async () => {
      const log = await makeEmailLog(ds, { status: 'queued' });
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.release(log.id);
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.release(log.id, 'template worker unavailable');
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.recordTransientError(log.id, 'connect ECONNREFUSED 127.0.0.1:5000');
      await delivery.claimForDelivery(log.externalMessageId);
      await backdateClaim(log.id, 10);
      expect(await delivery.claimForDelivery(log.externalMessageId, 300)).not.toBeNull();
      // A fresh claim is nobody's to take over: no change, nothing published.
      expect(await delivery.claimForDelivery(log.externalMessageId, 300)).toBeNull();

      expect(await publishedFor(log.id)).toEqual([
        { from: 'queued', to: 'processing', cause: 'claim', details: {} },
        { from: 'processing', to: 'queued', cause: 'release', details: {} },
        { from: 'queued', to: 'processing', cause: 'claim', details: {} },
        {
          from: 'processing',
          to: 'queued',
          cause: 'release',
          details: { error: 'template worker unavailable' },
        },
        { from: 'queued', to: 'processing', cause: 'claim', details: {} },
        {
          from: 'processing',
          to: 'queued',
          cause: 'transient_error',
          details: { error: 'connect ECONNREFUSED 127.0.0.1:5000' },
        },
        { from: 'queued', to: 'processing', cause: 'claim', details: {} },
        {
          from: 'processing',
          to: 'processing',
          cause: 'reclaim_stale',
          details: { stale_after_s: 300 },
        },
      ]);
    });

    it('duplicate jobs claiming one message at once publish one claim', async () => {
      const log = await makeEmailLog(ds, { status: 'retry_scheduled' });
      const claims = await Promise.all(
        Array.from({ length: 5 }, () => delivery.claimForDelivery(log.externalMessageId)),
      );
      expect(claims.filter((c) => c !== null)).toHaveLength(1);
      expect(await publishedFor(log.id)).toEqual([
        { from: 'retry_scheduled', to: 'processing', cause: 'claim', details: {} },
      ]);
    });

    it('the outbox sweep’s abandoned claims and the due soft-bounce retries', async () => {
      const abandoned = await makeEmailLog(ds, { status: 'processing' });
      await backdateClaim(abandoned.id, 11);
      const due = await makeEmailLog(ds, {
        status: 'retry_scheduled',
        retryCount: 1,
        nextRetryAt: new Date(Date.now() - 60_000),
      });
      expect(await transitions.requeueAbandonedClaims(600)).toBeGreaterThanOrEqual(1);
      const requeued = await transitions.requeueDueRetries(1000);
      expect(requeued).toContainEqual({
        messageId: due.externalMessageId,
        recipient: due.recipient,
        retryCount: 2,
        stream: 'transactional',
      });

      expect(await publishedFor(abandoned.id)).toEqual([
        {
          from: 'processing',
          to: 'queued',
          cause: 'abandoned_claim',
          details: { stale_after_s: 600 },
        },
      ]);
      expect(await publishedFor(due.id)).toEqual([
        { from: 'retry_scheduled', to: 'queued', cause: 'retry_due', details: { retry_count: 2 } },
      ]);
    });

    it('every status UPDATE records the status it left on the message (previous_status)', async () => {
      const log = await makeEmailLog(ds, { status: 'queued' });
      const previous = async () =>
        (await ds.query(`SELECT previous_status FROM email_logs WHERE id = $1`, [log.id]))[0]
          .previous_status;
      await delivery.claimForDelivery(log.externalMessageId);
      expect(await previous()).toBe('queued');
      await delivery.markSent(
        log.id,
        { providerMessageId: randomUUID(), providerToken: null, postalMessageId: null },
        null,
      );
      expect(await previous()).toBe('processing');
      await transitions.transition(log.id, 'held', {}, {});
      await transitions.markDelivered(log.id, new Date(), {});
      expect(await previous()).toBe('held');
      expect((await publishedFor(log.id)).map((e) => [e.from, e.to])).toEqual([
        ['queued', 'processing'],
        ['processing', 'sent'],
        ['sent', 'held'],
        ['held', 'delivered'],
      ]);
    });

    it('the API timeline leaves the internal moves out; every row stays in the outbox', async () => {
      const log = await makeEmailLog(ds, { status: 'queued' });
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.recordTransientError(log.id, 'timeout');
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.markSent(
        log.id,
        { providerMessageId: randomUUID(), providerToken: null, postalMessageId: null },
        null,
      );
      await transitions.markDelivered(log.id, new Date(), { source: 'postal' });
      await writes.addEvent(log.id, 'opened', {});

      expect((await reads.eventsOf(log.id)).map((e) => e.eventType)).toEqual([
        'sent',
        'delivered',
        'opened',
      ]);
      const rows: Array<{ event_type: string; cause: string | null }> = await ds.query(
        `SELECT event_type, cause FROM email_events WHERE email_log_id = $1 ORDER BY id`,
        [log.id],
      );
      expect(rows.map((r) => [r.event_type, r.cause])).toEqual([
        ['processing', 'claim'],
        ['queued', 'transient_error'],
        ['processing', 'claim'],
        ['sent', 'provider_accepted'],
        ['delivered', 'delivered'],
        // An event without a status change is published too (cause `open`; README "Event webhooks").
        ['opened', 'open'],
      ]);
    });

    it('the daily prune keeps an internal transition until the publisher has delivered it', async () => {
      const prune = new AnalyticsMaintenanceRepository(ds);
      const log = await makeEmailLog(ds, { status: 'queued' });
      await delivery.claimForDelivery(log.externalMessageId);
      await delivery.release(log.id);
      const old = new Date(Date.now() - 200 * 24 * 3600 * 1000);
      await ds.query(`UPDATE email_events SET occurred_at = $2 WHERE email_log_id = $1`, [
        log.id,
        old,
      ]);
      const causes = async () =>
        (
          await ds.query(`SELECT cause FROM email_events WHERE email_log_id = $1 ORDER BY id`, [
            log.id,
          ])
        ).map((r: { cause: string }) => r.cause);

      const cutoff = new Date(Date.now() - 90 * 24 * 3600 * 1000);
      await prune.pruneEmailEvents(cutoff);
      expect(await causes()).toEqual(['claim', 'release']);
      expect(await publishedFor(log.id)).toHaveLength(2);
      await prune.pruneEmailEvents(cutoff);
      expect(await causes()).toEqual([]);
    });
  });

  describe('suppression: one rule for the accept insert, the claim and BlacklistService', () => {
    it.each([
      ['a non-ASCII address (Unicode case mapping)', 'İnfo-%s@example.com'],
      ['an address with a tab around it', '\tTab.User-%s@Example.com '],
      ['a mixed-case ASCII address', 'Mixed.Case-%s@EXAMPLE.com'],
    ])(
      'the claim sees the suppression of %s exactly as BlacklistService does',
      async (_, pattern) => {
        const recipient = pattern.replace('%s', randomUUID().slice(0, 8));
        const log = await makeEmailLog(ds, { status: 'queued', recipient });
        await blacklist.add({ email: recipient, reason: 'manual' });
        expect(await blacklist.check(recipient)).not.toBeNull();
        const claimed = await delivery.claimForDelivery(log.externalMessageId);
        expect(claimed?.suppressed).toBe(true);
      },
    );

    it('property: the claim agrees with BlacklistService for any address, suppressed or not', async () => {
      const local = fc.stringMatching(/^[A-Za-z0-9.İıßΣσﬃ_-]{1,12}$/);
      await fc.assert(
        fc.asyncProperty(
          local,
          fc.constantFrom('', ' ', '\t'),
          fc.boolean(),
          async (l, pad, add) => {
            const recipient = `${pad}${l}-${randomUUID().slice(0, 6)}@Example.com${pad}`;
            if (add) await blacklist.add({ email: recipient, reason: 'manual' });
            const log = await makeEmailLog(ds, { status: 'queued', recipient });
            const claimed = await delivery.claimForDelivery(log.externalMessageId);
            expect(claimed?.suppressed).toBe((await blacklist.check(recipient)) !== null);
            expect(claimed?.suppressed).toBe(add);
          },
        ),
        { numRuns: 40 },
      );
    });
  });
});
