import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';
import { BlacklistEntry } from 'src/modules/blacklist/blacklist-entry.entity';
import { BlacklistRepository } from 'src/modules/blacklist/blacklist.repository';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { DeliveryTransitionsRepository } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { makeEmailLog } from 'test/utils/factories';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

/**
 * The delivery hot path groups concurrent claims and `sent` updates into one statement each
 * (group commit). Grouping must not change what each caller sees: one claim per message, even
 * when duplicate jobs land in the same statement, and one `sent` event per message.
 */
const logs0 = Date.now().toString(36);

describe('Message repositories group commit (claims and sent updates)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let delivery: DeliveryTransitionsRepository;
  let transitions: TransitionsRepository;
  let reads: MessageReadsRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 6 }));
    await ds.initialize();
    const blacklist = new BlacklistService(
      new BlacklistRepository(ds.getRepository(BlacklistEntry)),
    );
    transitions = new TransitionsRepository(ds);
    delivery = new DeliveryTransitionsRepository(ds, blacklist, transitions);
    reads = new MessageReadsRepository(
      ds.getRepository(EmailLog),
      ds.getRepository(EmailEvent),
      ds,
    );
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const sentEvents = async (id: string): Promise<number> =>
    Number(
      (
        await ds.query(
          `SELECT count(*)::int AS n FROM email_events WHERE email_log_id = $1 AND event_type = 'sent'`,
          [id],
        )
      )[0].n,
    );

  it('claims 300 messages from concurrent callers, each exactly once, with its own fields', async () => {
    const logs = await Promise.all(
      Array.from({ length: 300 }, (_, i) => makeEmailLog(ds, { subject: `s${i}` })),
    );
    const claims = await Promise.all(
      logs.map((l) => delivery.claimForDelivery(l.externalMessageId)),
    );
    claims.forEach((c, i) => {
      expect(c).not.toBeNull();
      expect(c!.id).toBe(logs[i].id);
      expect(c!.subject).toBe(`s${i}`);
      expect(c!.recipient).toBe(logs[i].recipient);
      expect(c!.suppressed).toBe(false);
    });
    // A second round: everything is `processing` now, nobody gets a claim.
    const again = await Promise.all(
      logs.map((l) => delivery.claimForDelivery(l.externalMessageId)),
    );
    expect(again.every((c) => c === null)).toBe(true);
  });

  it('gives a message claimed by duplicate jobs in the same statement to only one of them', async () => {
    const log = await makeEmailLog(ds);
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => delivery.claimForDelivery(log.externalMessageId)),
    );
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
  });

  it('matches the message id whatever its case, and reports suppression per message', async () => {
    const [plain, blocked] = await Promise.all([makeEmailLog(ds), makeEmailLog(ds)]);
    await ds.query(
      `INSERT INTO blacklists (email, email_hash, reason)
       VALUES ($1::varchar, encode(sha256(convert_to(lower(btrim($1::text)), 'UTF8')), 'hex'), 'manual')`,
      [blocked.recipient],
    );
    const [a, b] = await Promise.all([
      delivery.claimForDelivery(plain.externalMessageId.toUpperCase()),
      delivery.claimForDelivery(blocked.externalMessageId),
    ]);
    expect(a?.suppressed).toBe(false);
    expect(b?.suppressed).toBe(true);
  });

  it('reclaims only claims older than the stale limit', async () => {
    const [fresh, stale] = await Promise.all([
      makeEmailLog(ds, { status: 'processing' }),
      makeEmailLog(ds, { status: 'processing' }),
    ]);
    await ds.query(
      `UPDATE email_logs SET updated_at = now() - interval '10 minutes' WHERE id = $1`,
      [stale.id],
    );
    const [a, b] = await Promise.all([
      delivery.claimForDelivery(fresh.externalMessageId, 300),
      delivery.claimForDelivery(stale.externalMessageId, 300),
    ]);
    expect(a).toBeNull();
    expect(b?.id).toBe(stale.id);
  });

  it('marks concurrently sent messages sent once each, with their own provider ids and details', async () => {
    const logs = await Promise.all(
      Array.from({ length: 120 }, () => makeEmailLog(ds, { status: 'processing' })),
    );
    const results = await Promise.all(
      logs.map((l, i) =>
        delivery.markSent(
          l.id,
          { providerMessageId: `p-${i}`, providerToken: `t-${i}`, postalMessageId: null },
          i % 2 === 0 ? { sandbox: { n: i } } : null,
        ),
      ),
    );
    expect(results.every(Boolean)).toBe(true);
    const rows: Array<{ id: string; status: string; provider_message_id: string; d: unknown }> =
      await ds.query(
        `SELECT id, status, provider_message_id, status_details->'sandbox' AS d
           FROM email_logs WHERE id = ANY($1::bigint[])`,
        [logs.map((l) => l.id)],
      );
    const byId = new Map(rows.map((r) => [r.id, r]));
    logs.forEach((l, i) => {
      const r = byId.get(l.id)!;
      expect(r.status).toBe('sent');
      expect(r.provider_message_id).toBe(`p-${i}`);
      expect(r.d).toEqual(i % 2 === 0 ? { n: i } : null);
    });
    expect(await sentEvents(logs[7].id)).toBe(1);
  });

  it('answers false for a message no longer processing and for a duplicate in the same batch', async () => {
    const [queued, twice] = await Promise.all([
      makeEmailLog(ds, { status: 'queued' }),
      makeEmailLog(ds, { status: 'processing' }),
    ]);
    const sent = { providerMessageId: 'x', providerToken: null, postalMessageId: null };
    const [a, b, c] = await Promise.all([
      delivery.markSent(queued.id, sent, null),
      delivery.markSent(twice.id, sent, null),
      delivery.markSent(twice.id, sent, null),
    ]);
    expect(a).toBe(false);
    expect([b, c].filter(Boolean)).toHaveLength(1);
    expect(await sentEvents(twice.id)).toBe(1);
  });

  it('finds many messages by Postal id at once, the newest for a reused id, null when unknown', async () => {
    const logs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        makeEmailLog(ds, { status: 'sent', providerMessageId: `pm-${i}-${logs0}` }),
      ),
    );
    const older = await makeEmailLog(ds, { status: 'sent', providerMessageId: `dup-${logs0}` });
    const newer = await makeEmailLog(ds, { status: 'sent', providerMessageId: `dup-${logs0}` });
    const found = await Promise.all([
      ...logs.map((_, i) => reads.findForEvent({ postalId: `pm-${i}-${logs0}` })),
      reads.findForEvent({ postalId: `dup-${logs0}` }),
      reads.findForEvent({ postalId: 'nope' }),
    ]);
    expect(found.pop()).toBeNull();
    expect(found.pop()?.id).toBe(newer.id);
    expect(older.id).not.toBe(newer.id);
    found.forEach((f, i) => {
      expect(f).toMatchObject({
        id: logs[i].id,
        messageId: logs[i].externalMessageId,
        status: 'sent',
      });
    });
  });

  it('finds a message by its token alone, but an unknown Postal id with a known token matches nothing', async () => {
    const log = await makeEmailLog(ds, { status: 'sent', providerToken: `tok-${logs0}` });
    expect((await reads.findForEvent({ token: `tok-${logs0}` }))?.id).toBe(log.id);
    // Postal names its message by id and token together: both must match one row (README,
    // "How mail flows"), so a forged or stale id cannot be paired with a known token.
    await expect(
      reads.findForEvent({ postalId: 'unknown-id', token: `tok-${logs0}` }),
    ).resolves.toBeNull();
  });

  it('marks concurrent deliveries once each, only from the statuses given', async () => {
    const [sent, held, bounced] = await Promise.all([
      makeEmailLog(ds, { status: 'sent' }),
      makeEmailLog(ds, { status: 'held' }),
      makeEmailLog(ds, { status: 'bounced' }),
    ]);
    const at = new Date('2026-11-28T10:00:00Z');
    // The statuses `delivered` may leave come from the transition table (processing, sent, held).
    const results = await Promise.all([
      transitions.markDelivered(sent.id, at, { n: 1 }),
      transitions.markDelivered(sent.id, at, { n: 2 }),
      transitions.markDelivered(held.id, at, { n: 3 }),
      transitions.markDelivered(bounced.id, at, { n: 4 }),
    ]);
    expect(results).toEqual([true, false, true, false]);
    const rows: Array<{ id: string; status: string; delivered_at: Date | null }> = await ds.query(
      `SELECT id, status, delivered_at FROM email_logs WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[sent.id, held.id, bounced.id]],
    );
    // The three rows were created concurrently, so their ids are in no particular order.
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    expect([sent, held, bounced].map((l) => byId.get(String(l.id))?.status)).toEqual([
      'delivered',
      'delivered',
      'bounced',
    ]);
    expect(byId.get(String(sent.id))?.delivered_at?.toISOString()).toBe(at.toISOString());
    const events: Array<{ details: unknown }> = await ds.query(
      `SELECT details FROM email_events WHERE email_log_id = $1 AND event_type = 'delivered'`,
      [sent.id],
    );
    expect(events).toEqual([{ details: { n: 1 } }]);
  });
});
