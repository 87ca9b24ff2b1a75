import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import { BlacklistEntry } from 'src/modules/blacklist/blacklist-entry.entity';
import { BlacklistRepository } from 'src/modules/blacklist/blacklist.repository';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { DeliveryTransitionsRepository } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { makeEmailLog } from 'test/utils/factories';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

jest.setTimeout(60_000);

/**
 * Cancel against the delivery claim on a real database (README "Cancel and reschedule"): the
 * row locks decide, so a claimed message is never canceled and a canceled one never claimed,
 * whichever comes first — including while the other statement's transaction is still open.
 */
describe(TransitionsRepository.name, () => {
  let db: TestDatabase;
  let ds: DataSource;
  let blacklist: BlacklistService;
  let transitions: TransitionsRepository;
  let delivery: DeliveryTransitionsRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 6 }));
    await ds.initialize();
    blacklist = new BlacklistService(new BlacklistRepository(ds.getRepository(BlacklistEntry)));
    transitions = new TransitionsRepository(ds);
    delivery = new DeliveryTransitionsRepository(ds, blacklist, transitions);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const statusOf = async (id: string): Promise<string> =>
    (await ds.query(`SELECT status FROM email_logs WHERE id = $1`, [id]))[0].status;

  describe('cancelMessage', () => {
    it('does not cancel a message the worker claimed first', async () => {
      const log = await makeEmailLog(ds);
      expect(await delivery.claimForDelivery(log.externalMessageId)).not.toBeNull();
      await expect(transitions.cancelMessage(log.externalMessageId, {})).resolves.toEqual([
        { status: 'processing', canceled: false },
      ]);
      expect(await statusOf(log.id)).toBe('processing');
    });

    it('leaves nothing to claim once canceled', async () => {
      const log = await makeEmailLog(ds);
      await expect(transitions.cancelMessage(log.externalMessageId, {})).resolves.toEqual([
        { status: 'queued', canceled: true },
      ]);
      await expect(delivery.claimForDelivery(log.externalMessageId)).resolves.toBeNull();
      expect(await statusOf(log.id)).toBe('canceled');
    });

    it('waits for a claim still in flight and then sees it: not canceled', async () => {
      const log = await makeEmailLog(ds);
      const claim = ds.createQueryRunner();
      await claim.connect();
      await claim.startTransaction();
      try {
        // The claim's UPDATE, its transaction not yet committed.
        await claim.query(
          `UPDATE email_logs SET status = 'processing', updated_at = now()
            WHERE id = $1 AND status IN ('queued', 'retry_scheduled')`,
          [log.id],
        );
        const cancel = transitions.cancelMessage(log.externalMessageId, {});
        // The cancel is blocked on the claim's row lock until the claim commits.
        await waitUntilBlocked(ds, log.id);
        await claim.commitTransaction();
        await expect(cancel).resolves.toEqual([{ status: 'processing', canceled: false }]);
      } finally {
        await claim.release();
      }
      expect(await statusOf(log.id)).toBe('processing');
    });

    it('makes a claim that waited on it find nothing', async () => {
      const log = await makeEmailLog(ds, { status: 'retry_scheduled', nextRetryAt: new Date() });
      const cancel = ds.createQueryRunner();
      await cancel.connect();
      await cancel.startTransaction();
      try {
        await cancel.query(`SELECT id FROM email_logs WHERE id = $1 FOR UPDATE`, [log.id]);
        await cancel.query(
          `UPDATE email_logs SET status = 'canceled', next_retry_at = NULL WHERE id = $1`,
          [log.id],
        );
        const claim = delivery.claimForDelivery(log.externalMessageId);
        await waitUntilBlocked(ds, log.id);
        await cancel.commitTransaction();
        await expect(claim).resolves.toBeNull();
      } finally {
        await cancel.release();
      }
    });

    it('writes the canceled event as a published transition (from, cause, details)', async () => {
      const messageId = randomUUID();
      const a = await makeEmailLog(ds, { externalMessageId: messageId });
      await expect(transitions.cancelMessage(messageId, { source: 'test' })).resolves.toEqual([
        { status: 'queued', canceled: true },
      ]);
      const [event] = await ds.query(
        `SELECT event_type, from_status, cause, details FROM email_events WHERE email_log_id = $1`,
        [a.id],
      );
      expect(event).toEqual({
        event_type: 'canceled',
        from_status: 'queued',
        cause: 'cancel',
        details: { source: 'test' },
      });
    });
  });

  describe('cancelBatch', () => {
    it('skips rows a claim holds and cancels the rest', async () => {
      const batchId = randomUUID();
      await ds.query(`INSERT INTO batches (id, total, accepted) VALUES ($1, 3, 3)`, [batchId]);
      const logs = await Promise.all(
        [0, 1, 2].map(() => makeEmailLog(ds, { batchId, sendAt: new Date(Date.now() + 3600e3) })),
      );
      const claim = ds.createQueryRunner();
      await claim.connect();
      await claim.startTransaction();
      try {
        await claim.query(`UPDATE email_logs SET status = 'processing' WHERE id = $1`, [
          logs[0].id,
        ]);
        const canceled = await transitions.cancelBatch(batchId, {});
        expect(canceled.sort()).toEqual(
          [logs[1].externalMessageId, logs[2].externalMessageId].sort(),
        );
        await claim.commitTransaction();
      } finally {
        await claim.release();
      }
      expect(await statusOf(logs[0].id)).toBe('processing');
      await expect(transitions.cancelBatch(batchId, {})).resolves.toEqual([]);
    });
  });

  describe('rescheduleMessage', () => {
    it('moves send_at only while queued', async () => {
      const queued = await makeEmailLog(ds);
      const at = new Date(Date.now() + 7200e3);
      await expect(transitions.rescheduleMessage(queued.externalMessageId, at)).resolves.toEqual([
        expect.objectContaining({ status: 'queued', rescheduled: true }),
      ]);
      const [row] = await ds.query(`SELECT send_at FROM email_logs WHERE id = $1`, [queued.id]);
      expect(new Date(row.send_at).getTime()).toBe(at.getTime());
      const claimed = await makeEmailLog(ds);
      await delivery.claimForDelivery(claimed.externalMessageId);
      await expect(transitions.rescheduleMessage(claimed.externalMessageId, at)).resolves.toEqual([
        expect.objectContaining({ status: 'processing', rescheduled: false }),
      ]);
    });
  });
});

describe('suppression scope at the claim', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let blacklist: BlacklistService;
  let delivery: DeliveryTransitionsRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 4 }));
    await ds.initialize();
    blacklist = new BlacklistService(new BlacklistRepository(ds.getRepository(BlacklistEntry)));
    delivery = new DeliveryTransitionsRepository(ds, blacklist, new TransitionsRepository(ds));
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it.each([
    ['ann-ascii@example.com'],
    ['zoë@example.com'], // decided by BlacklistService.check (non-ASCII)
  ])('a broadcast entry suppresses broadcast mail to %s only', async (recipient) => {
    await blacklist.add({ email: recipient, reason: 'unsubscribe', scope: 'broadcast' });
    const news = await makeEmailLog(ds, { recipient, stream: 'broadcast' });
    const receipt = await makeEmailLog(ds, { recipient, stream: 'transactional' });
    expect((await delivery.claimForDelivery(news.externalMessageId))?.suppressed).toBe(true);
    expect((await delivery.claimForDelivery(receipt.externalMessageId))?.suppressed).toBe(false);
    await blacklist.add({ email: recipient, reason: 'hard_bounce' });
    const next = await makeEmailLog(ds, { recipient, stream: 'transactional' });
    expect((await delivery.claimForDelivery(next.externalMessageId))?.suppressed).toBe(true);
  });

  it('keeps one entry per scope, each with the strongest reason', async () => {
    const email = `scopes-${randomUUID().slice(0, 6)}@example.com`;
    await blacklist.add({ email, reason: 'unsubscribe', scope: 'broadcast' });
    await blacklist.add({ email, reason: 'complaint', scope: 'broadcast' });
    await blacklist.add({ email, reason: 'unsubscribe', scope: 'broadcast' });
    await blacklist.add({ email, reason: 'manual', scope: 'all' });
    const rows = await ds.query(
      `SELECT scope, reason FROM blacklists WHERE email = $1 ORDER BY scope`,
      [email],
    );
    expect(rows).toEqual([
      { scope: 'all', reason: 'manual' },
      { scope: 'broadcast', reason: 'complaint' },
    ]);
    await expect(blacklist.check(email, 'transactional')).resolves.toMatchObject({
      scope: 'all',
      reason: 'manual',
    });
    await expect(blacklist.remove(email, 'all')).resolves.toBe(true);
    await expect(blacklist.check(email, 'transactional')).resolves.toBeNull();
    await expect(blacklist.check(email, 'broadcast')).resolves.toMatchObject({
      scope: 'broadcast',
    });
  });
});

/** Until a backend of this database waits on a lock (the statement under test is blocked). */
async function waitUntilBlocked(ds: DataSource, _rowId: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [{ n }] = await ds.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the statement never blocked on the row lock');
}
