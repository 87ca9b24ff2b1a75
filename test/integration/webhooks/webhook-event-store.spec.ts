import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import { WebhookEventRepository } from 'src/modules/webhooks/webhook-event.repository';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

/**
 * Webhook envelopes of concurrent requests are stored by one statement (group commit). Each
 * request must still learn whether its envelope is new, and a uuid is stored once however the
 * deliveries of one event interleave.
 */
describe('WebhookEventRepository.store (group commit)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let repo: WebhookEventRepository;
  let other: WebhookEventRepository;
  let ds2: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 4 }));
    ds2 = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 4 }));
    await Promise.all([ds.initialize(), ds2.initialize()]);
    repo = new WebhookEventRepository(ds);
    // A second "process": its own pool and its own batches.
    other = new WebhookEventRepository(ds2);
  });

  afterAll(async () => {
    await Promise.all([ds?.destroy(), ds2?.destroy()]);
    await db?.drop();
  });

  const rowsFor = async (uuid: string): Promise<Array<{ id: string; payload: unknown }>> =>
    ds.query(`SELECT id, payload FROM webhook_events WHERE uuid = $1`, [uuid]);

  it('stores 400 concurrent envelopes once each, with their own payloads', async () => {
    const uuids = Array.from({ length: 400 }, () => randomUUID());
    const results = await Promise.all(
      uuids.map((u, i) => repo.store(u, 'MessageSent', { payload: { n: i } })),
    );
    expect(results.every((r) => r.inserted && !r.processed)).toBe(true);
    expect(new Set(results.map((r) => r.id)).size).toBe(400);
    const stored = await rowsFor(uuids[123]);
    expect(stored).toHaveLength(1);
    expect(stored[0].id).toBe(results[123].id);
    expect(stored[0].payload).toEqual({ payload: { n: 123 } });
  });

  it('answers a repeated uuid in the same batch as a duplicate of the first, same id', async () => {
    const uuid = randomUUID();
    const [a, b, c] = await Promise.all([
      repo.store(uuid, 'MessageSent', { first: true }),
      repo.store(uuid, 'MessageSent', { first: false }),
      repo.store(uuid, 'MessageSent', { first: false }),
    ]);
    expect(a.inserted).toBe(true);
    expect([b.inserted, c.inserted]).toEqual([false, false]);
    expect(new Set([a.id, b.id, c.id]).size).toBe(1);
    expect(await rowsFor(uuid)).toEqual([{ id: a.id, payload: { first: true } }]);
  });

  it('finds an earlier row, and says whether it was processed', async () => {
    const uuid = randomUUID();
    const first = await repo.store(uuid, 'MessageBounced', {});
    await repo.markProcessed(first.id, null);
    const again = await repo.store(uuid, 'MessageBounced', {});
    expect(again).toEqual({ id: first.id, inserted: false, processed: true });
  });

  it('stores a uuid once when two processes receive it at the same moment', async () => {
    const uuids = Array.from({ length: 50 }, () => randomUUID());
    const [mine, theirs] = await Promise.all([
      Promise.all(uuids.map((u) => repo.store(u, 'MessageSent', {}))),
      Promise.all(uuids.map((u) => other.store(u, 'MessageSent', {}))),
    ]);
    uuids.forEach((_, i) => {
      expect(mine[i].id).toBe(theirs[i].id);
      expect(Number(mine[i].inserted) + Number(theirs[i].inserted)).toBe(1);
    });
    const counts: Array<{ n: number }> = await ds.query(
      `SELECT count(*)::int AS n FROM webhook_events WHERE uuid = ANY($1::varchar[]) GROUP BY uuid`,
      [uuids],
    );
    expect(counts.every((c) => c.n === 1)).toBe(true);
  });

  it('fails only the envelope PostgreSQL refuses; the others in its batch are stored', async () => {
    const good = randomUUID();
    const bad = randomUUID();
    const [ok, refused] = await Promise.allSettled([
      repo.store(good, 'MessageSent', { fine: true }),
      // jsonb cannot hold \u0000.
      repo.store(bad, 'MessageSent', { text: 'nul \u0000 byte' }),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(refused.status).toBe('rejected');
    expect(await rowsFor(good)).toHaveLength(1);
    expect(await rowsFor(bad)).toHaveLength(0);
  });

  it('finds and marks processed many events concurrently, each with its own row and error', async () => {
    const uuids = Array.from({ length: 60 }, () => randomUUID());
    const stored = await Promise.all(uuids.map((u, i) => repo.store(u, 'MessageSent', { i })));
    const found = await Promise.all([
      ...stored.map((s) => repo.find(s.id)),
      repo.find('999999999'),
    ]);
    expect(found.pop()).toBeNull();
    found.forEach((f, i) => {
      expect(f).toMatchObject({
        id: stored[i].id,
        uuid: uuids[i],
        payload: { i },
        processedAt: null,
      });
    });
    await Promise.all(
      stored.map((s, i) => repo.markProcessed(s.id, i % 2 ? 'unknown_message' : null)),
    );
    const rows: Array<{ uuid: string; processed: boolean; error: string | null }> = await ds.query(
      `SELECT uuid, processed_at IS NOT NULL AS processed, error FROM webhook_events WHERE uuid = ANY($1::varchar[])`,
      [uuids],
    );
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    uuids.forEach((u, i) => {
      expect(byUuid.get(u)).toEqual({
        uuid: u,
        processed: true,
        error: i % 2 ? 'unknown_message' : null,
      });
    });
  });
});
