import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import type { EventPayload, OutboundEventInput } from 'src/modules/event-webhooks/event-types';
import {
  AttemptRecord,
  OutboundDeliveriesRepository,
} from 'src/modules/event-webhooks/outbound-deliveries.repository';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

/**
 * The attempts log and the drain's claims on real PostgreSQL (README "Event webhooks"): every
 * attempt is kept, written by the statement that records it on its delivery; a claim taken
 * ahead and not sent goes back as it was; the retention prune spares what still waits.
 */
describe(OutboundDeliveriesRepository.name, () => {
  let db: TestDatabase;
  let ds: DataSource;
  let repo: OutboundDeliveriesRepository;
  let endpointId: string;
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 4 }));
    await ds.initialize();
    repo = new OutboundDeliveriesRepository(ds);
    [{ id: endpointId }] = await ds.query(
      `INSERT INTO webhook_endpoints (url, secret) VALUES ('https://hooks.example/x', 'whsec_x') RETURNING id`,
    );
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const events = (n: number, createdAt = new Date()): OutboundEventInput[] =>
    Array.from({ length: n }, () => {
      seq++;
      return {
        sourceKey: `t${seq}`,
        type: 'email.sent',
        stream: 'transactional',
        campaignId: null,
        tag: null,
        createdAt,
        payload: { type: 'email.sent', data: { n: seq } } as unknown as EventPayload,
      };
    });

  const outcome = (id: string, ok: boolean, at: Date): AttemptRecord => ({
    id,
    status: ok ? 'succeeded' : 'pending',
    nextAttemptAt: ok ? null : new Date(at.getTime() + 60_000),
    startedAt: new Date(at.getTime() - 12),
    at,
    responseStatus: ok ? 204 : 503,
    responseBody: ok ? '' : 'busy',
    durationMs: 12,
    error: ok ? null : 'HTTP 503',
  });

  const status = async (ids: string[]): Promise<Array<{ status: string; attempts: number }>> =>
    ds.query(
      `SELECT status, attempts FROM outbound_deliveries WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );

  describe('recordAttempts', () => {
    it('keeps every attempt, numbered, with its outcome, oldest first', async () => {
      await repo.storeAndFanOut(events(1), new Date());
      const now = new Date();
      const [d] = await repo.claimDue(endpointId, now, 10);
      await repo.recordAttempts([outcome(d.id, false, now)]);
      await ds.query(
        `UPDATE outbound_deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = $1`,
        [d.id],
      );
      const [again] = await repo.claimDue(endpointId, new Date(), 10);
      expect(again.id).toBe(d.id);
      await repo.recordAttempts([outcome(d.id, true, new Date())]);

      const history = await repo.attempts(d.id, 100);
      expect(history).toEqual([
        expect.objectContaining({
          attempt: 1,
          response_status: 503,
          response_body: 'busy',
          error: 'HTTP 503',
          duration_ms: 12,
        }),
        expect.objectContaining({ attempt: 2, response_status: 204, error: null }),
      ]);
      expect(await status([d.id])).toEqual([{ status: 'succeeded', attempts: 2 }]);
      expect(await repo.attempts(d.id, 1)).toEqual([expect.objectContaining({ attempt: 2 })]);
    });

    it('records nothing for a delivery no longer being sent', async () => {
      await repo.storeAndFanOut(events(1), new Date());
      const [d] = await repo.claimDue(endpointId, new Date(), 10);
      await repo.unclaim([d], new Date());
      await repo.recordAttempts([outcome(d.id, true, new Date())]);
      expect(await repo.attempts(d.id, 100)).toEqual([]);
      expect(await status([d.id])).toEqual([{ status: 'pending', attempts: 0 }]);
    });
  });

  describe('claimDue', () => {
    it('claims the oldest due first, a chunk at a time, never one already claimed', async () => {
      await repo.storeAndFanOut(events(25), new Date(Date.now() - 1000));
      const now = new Date();
      const first = await repo.claimDue(endpointId, now, 10);
      const second = await repo.claimDue(endpointId, now, 10);
      const ids = [...first, ...second].map((d) => Number(d.id));
      expect(new Set(ids).size).toBe(20);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      await repo.unclaim([...first, ...second], now);
      const all = await repo.claimDue(endpointId, new Date(), 1000);
      expect(all.map((d) => d.id)).toEqual(expect.arrayContaining(first.map((d) => d.id)));
      await repo.recordAttempts(all.map((d) => outcome(d.id, true, new Date())));
    });
  });

  describe('pruneEvents', () => {
    it('deletes old events with their deliveries and attempts, in batches, sparing one still waiting', async () => {
      const old = new Date(Date.now() - 40 * 24 * 3600_000);
      await repo.storeAndFanOut(events(5, old), new Date());
      const claimed = await repo.claimDue(endpointId, new Date(), 1000);
      const done = claimed.slice(0, 4);
      await repo.recordAttempts(done.map((d) => outcome(d.id, true, new Date())));
      const waiting = claimed.slice(4);
      await repo.recordAttempts(waiting.map((d) => outcome(d.id, false, new Date())));
      const before = new Date(Date.now() - 30 * 24 * 3600_000);

      const pruned = [await repo.pruneEvents(before, 3), await repo.pruneEvents(before, 3)];
      expect(pruned).toEqual([3, 1]);
      expect(await repo.pruneEvents(before, 3)).toBe(0);
      const left: Array<{ id: string }> = await ds.query(
        `SELECT d.id FROM outbound_deliveries d JOIN outbound_events e ON e.id = d.outbound_event_id
          WHERE e.created_at < $1`,
        [before],
      );
      expect(left.map((r) => r.id)).toEqual(waiting.map((d) => d.id));
      const [{ n }] = await ds.query(
        `SELECT count(*)::int AS n FROM outbound_delivery_attempts WHERE delivery_id = ANY($1::bigint[])`,
        [done.map((d) => d.id)],
      );
      expect(n).toBe(0);
      expect(await repo.attempts(waiting[0].id, 10)).toHaveLength(1);
    });
  });
});
