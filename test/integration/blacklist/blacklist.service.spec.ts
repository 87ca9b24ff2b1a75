import { BlacklistService, emailHash } from 'src/modules/blacklist/blacklist.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

interface StoredRow {
  email: string;
  reason: string;
  source: string | null;
  details: string | null;
  expires_at: Date | null;
  created_at: Date;
  is_permanent: boolean;
  /** Seconds from now to expires_at (null when permanent). */
  expires_in_s: number | null;
}

describe(BlacklistService.name, () => {
  let t: TestApp;
  let service: BlacklistService;
  let seq = 0;
  const address = (label = 'u'): string => `${label}${++seq}-${Date.now()}@example.com`;

  const stored = async (email: string): Promise<StoredRow | undefined> => {
    const rows: StoredRow[] = await t.dataSource.query(
      `SELECT email, reason, source, details, expires_at, created_at,
              expires_at IS NULL AS is_permanent,
              extract(epoch FROM expires_at - now())::float8 AS expires_in_s
       FROM blacklists WHERE email_hash = $1`,
      [emailHash(email)],
    );
    return rows[0];
  };
  const expire = (email: string) =>
    t.dataSource.query(
      `UPDATE blacklists SET expires_at = now() - interval '1 minute',
                             created_at = now() - interval '1 day'
       WHERE email_hash = $1`,
      [emailHash(email)],
    );
  /** Counts every SQL statement the app sends while `fn` runs (TypeORM logs each one). */
  const countQueries = async <T>(fn: () => Promise<T>): Promise<{ result: T; sql: string[] }> => {
    const spy = jest.spyOn(t.dataSource.logger, 'logQuery');
    try {
      const result = await fn();
      return { result, sql: spy.mock.calls.map(([q]) => q) };
    } finally {
      spy.mockRestore();
    }
  };

  beforeAll(async () => {
    t = await bootTestApp();
    service = t.app.get(BlacklistService);
  });
  afterAll(() => t.close());

  describe('findSuppressed', () => {
    it('answers 10,000 addresses with one query, keyed by normalized address', async () => {
      const all = Array.from({ length: 10_000 }, (_, i) => `Bulk${i}-${Date.now()}@Example.COM`);
      const blocked = all.filter((_, i) => i % 7 === 0);
      const lapsed = all.filter((_, i) => i % 7 === 1).slice(0, 50);
      await service.addMany(blocked.map((email) => ({ email, reason: 'hard_bounce' })));
      await service.addMany(lapsed.map((email) => ({ email, reason: 'manual', expiresInS: 60 })));
      await t.dataSource.query(
        `UPDATE blacklists SET expires_at = now() - interval '1 second' WHERE email = ANY($1)`,
        [lapsed.map((e) => e.toLowerCase())],
      );

      const { result, sql } = await countQueries(() =>
        service.findSuppressed(all.map((e) => ` ${e} `)),
      );

      expect(sql).toHaveLength(1);
      expect(sql[0]).toContain('= ANY(');
      expect(result.size).toBe(blocked.length);
      expect([...result.keys()].sort()).toEqual(blocked.map((e) => e.toLowerCase()).sort());
      const first = blocked[0].toLowerCase();
      expect(result.get(first)).toEqual({
        email: first,
        reason: 'hard_bounce',
        scope: 'all',
        source: null,
        expiresAt: null,
      });
      for (const e of lapsed) expect(result.has(e.toLowerCase())).toBe(false);
    });

    it('finds nothing without querying for an empty list', async () => {
      const { result, sql } = await countQueries(() => service.findSuppressed([]));
      expect(result.size).toBe(0);
      expect(sql).toHaveLength(0);
    });

    it('lets the unique index on email_hash serve the lookup', async () => {
      const { sql } = await countQueries(() => service.findSuppressed(['a@example.com']));
      await t.dataSource.transaction(async (em) => {
        await em.query('SET LOCAL enable_seqscan = off');
        const plan: Array<{ 'QUERY PLAN': string }> = await em.query(`EXPLAIN ${sql[0]}`, [
          [emailHash('a@example.com')],
        ]);
        expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('uq_blacklists_email_hash');
      });
    });
  });

  describe('check', () => {
    it('matches the trimmed lower-cased address and ignores lapsed entries', async () => {
      const email = address('Ann');
      await service.add({ email: `${email.toUpperCase()} `, reason: 'complaint', source: 'fbl' });
      await expect(service.check(` ${email}`)).resolves.toEqual({
        email: email.toLowerCase(),
        reason: 'complaint',
        scope: 'all',
        source: 'fbl',
        expiresAt: null,
      });
      await expire(email);
      await expect(service.check(email)).resolves.toBeNull();
    });
  });

  describe('addMany', () => {
    it('inserts with one statement and answers how many addresses it stored', async () => {
      const emails = Array.from({ length: 2500 }, () => address('many'));
      const { result, sql } = await countQueries(() =>
        service.addMany(
          emails.map((email) => ({ email, reason: 'unsubscribe', source: 'batch', details: 'x' })),
        ),
      );
      expect(result).toBe(2500);
      expect(sql).toHaveLength(1);
      await expect(stored(emails[1234])).resolves.toMatchObject({
        email: emails[1234],
        reason: 'unsubscribe',
        source: 'batch',
        details: 'x',
        is_permanent: true,
      });
    });

    it('stores a repeated address once, its last occurrence winning', async () => {
      const email = address();
      await expect(
        service.addMany([
          { email, reason: 'manual', details: 'first' },
          { email: email.toUpperCase(), reason: 'complaint', details: 'second' },
        ]),
      ).resolves.toBe(1);
      await expect(stored(email)).resolves.toMatchObject({
        email,
        reason: 'complaint',
        details: 'second',
      });
    });

    it('replaces reason, source and details on a re-add of equal or greater strength', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'unsubscribe', source: 'link', details: 'a' }]);
      const before = await stored(email);
      await service.addMany([{ email, reason: 'hard_bounce' }]);
      const after = await stored(email);
      expect(after).toMatchObject({
        reason: 'hard_bounce',
        source: null,
        details: null,
        is_permanent: true,
      });
      expect(after!.created_at).toEqual(before!.created_at);
      // A weaker reason leaves all three as they are (test/integration/blacklist/suppression-strength.spec.ts).
      await service.addMany([{ email, reason: 'unsubscribe', source: 'link', details: 'b' }]);
      await expect(stored(email)).resolves.toMatchObject({
        reason: 'hard_bounce',
        source: null,
        details: null,
      });
    });

    it('keeps a permanent entry permanent when an automatic reason brings an expiry', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'hard_bounce' }]);
      await service.addMany([{ email, reason: 'complaint', expiresInS: 3600 }]);
      await expect(stored(email)).resolves.toMatchObject({
        reason: 'complaint',
        is_permanent: true,
      });
    });

    it('lets a manual re-add turn a permanent manual entry into an expiring one', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'manual' }]);
      await service.addMany([{ email, reason: 'manual', expiresInS: 3600 }]);
      const row = await stored(email);
      expect(row).toMatchObject({ reason: 'manual', is_permanent: false });
      expect(row!.expires_in_s).toBeGreaterThan(3500);
      expect(row!.expires_in_s).toBeLessThanOrEqual(3600);
      // …but not a stronger one: a hard bounce stays a permanent hard bounce.
      const bounced = address();
      await service.addMany([{ email: bounced, reason: 'hard_bounce' }]);
      await service.addMany([{ email: bounced, reason: 'manual', expiresInS: 3600 }]);
      await expect(stored(bounced)).resolves.toMatchObject({
        reason: 'hard_bounce',
        is_permanent: true,
      });
    });

    it('makes an expiring entry permanent when re-added without expiry', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'manual', expiresInS: 3600 }]);
      await service.addMany([{ email, reason: 'complaint' }]);
      await expect(stored(email)).resolves.toMatchObject({ is_permanent: true });
    });

    it('keeps the later expiry when an automatic reason re-adds an expiring entry', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'manual', expiresInS: 86_400 }]);
      await service.addMany([{ email, reason: 'fbl', expiresInS: 3600 }]);
      expect((await stored(email))!.expires_in_s).toBeGreaterThan(86_000);
      await service.addMany([{ email, reason: 'fbl', expiresInS: 2 * 86_400 }]);
      expect((await stored(email))!.expires_in_s).toBeGreaterThan(2 * 86_000);
    });

    it('treats a re-add of a lapsed entry as new: expiry as given, created_at restarts', async () => {
      const email = address();
      await service.addMany([{ email, reason: 'hard_bounce', expiresInS: 60 }]);
      await expire(email);
      await service.addMany([{ email, reason: 'complaint', expiresInS: 3600 }]);
      const row = await stored(email);
      expect(row).toMatchObject({ reason: 'complaint', is_permanent: false });
      expect(row!.expires_in_s).toBeGreaterThan(3500);
      expect(Date.now() - row!.created_at.getTime()).toBeLessThan(60_000);
    });
  });

  describe('add', () => {
    it('answers the stored suppression', async () => {
      const email = address();
      const result = await service.add({ email, reason: 'spam_trap', expiresInS: 120 });
      expect(result).toEqual({
        email,
        reason: 'spam_trap',
        scope: 'all',
        source: null,
        expiresAt: expect.any(Date),
      });
      expect(result.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 60_000);
    });
  });

  describe('remove', () => {
    it('deletes a live entry under any spelling and says so', async () => {
      const email = address();
      await service.add({ email, reason: 'manual' });
      await expect(service.remove(` ${email.toUpperCase()}`)).resolves.toBe(true);
      await expect(stored(email)).resolves.toBeUndefined();
      await expect(service.remove(email)).resolves.toBe(false);
    });

    it('answers false for a lapsed entry but deletes it', async () => {
      const email = address();
      await service.add({ email, reason: 'manual', expiresInS: 60 });
      await expire(email);
      await expect(service.remove(email)).resolves.toBe(false);
      await expect(stored(email)).resolves.toBeUndefined();
    });
  });
});
