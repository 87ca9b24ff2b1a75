import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { BlacklistImportCommand } from 'src/cli/commands/blacklist-import.command';
import { BLACKLIST_REASONS, BlacklistReason } from 'src/modules/blacklist/blacklist-entry.entity';
import { REASON_STRENGTH } from 'src/modules/blacklist/blacklist.repository';
import { BlacklistService, emailHash } from 'src/modules/blacklist/blacklist.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

/**
 * A weaker suppression reason never replaces a stronger one (README "Management"):
 * hard_bounce, spam_trap, complaint > fbl > unsubscribe > manual, wherever the entry is
 * written, and whichever of two concurrent writers commits last.
 */
describe('suppression strength', () => {
  let t: TestApp;
  let service: BlacklistService;
  let seq = 0;
  const address = (): string => `s${++seq}-${Date.now()}@example.com`;
  const stored = async (email: string) =>
    (
      await t.dataSource.query(
        `SELECT reason, source, details, expires_at IS NULL AS is_permanent
           FROM blacklists WHERE email_hash = $1`,
        [emailHash(email)],
      )
    )[0] as {
      reason: string;
      source: string | null;
      details: string | null;
      is_permanent: boolean;
    };
  /** What the entry should hold after `first` then `second`. */
  const winner = (first: BlacklistReason, second: BlacklistReason): BlacklistReason =>
    REASON_STRENGTH[first] > REASON_STRENGTH[second] ? first : second;

  beforeAll(async () => {
    t = await bootTestApp();
    service = t.app.get(BlacklistService);
  });
  afterAll(() => t.close());

  it('ranks the reasons as documented', () => {
    const rank = (r: BlacklistReason) => REASON_STRENGTH[r];
    expect(rank('hard_bounce')).toBe(rank('spam_trap'));
    expect(rank('spam_trap')).toBe(rank('complaint'));
    expect(rank('complaint')).toBeGreaterThan(rank('fbl'));
    expect(rank('fbl')).toBeGreaterThan(rank('unsubscribe'));
    expect(rank('unsubscribe')).toBeGreaterThan(rank('manual'));
    expect(Object.keys(REASON_STRENGTH).sort()).toEqual([...BLACKLIST_REASONS].sort());
  });

  it.each(BLACKLIST_REASONS.flatMap((a) => BLACKLIST_REASONS.map((b) => [a, b] as const)))(
    'add %s then %s keeps the stronger (the newer between equals)',
    async (first, second) => {
      const email = address();
      await service.add({ email, reason: first, source: 'one', details: 'first' });
      await service.add({ email, reason: second, source: 'two', details: 'second' });
      const row = await stored(email);
      const kept = winner(first, second);
      expect(row.reason).toBe(kept);
      // Source and details travel with the reason they describe.
      expect(row.source).toBe(kept === second ? 'two' : 'one');
      expect(row.details).toBe(kept === second ? 'second' : 'first');
    },
  );

  it('a set-based add (imports) keeps the stronger, against the table and within one call', async () => {
    const a = address();
    const b = address();
    await service.addMany([{ email: a, reason: 'complaint' }]);
    await service.addMany([
      { email: a, reason: 'unsubscribe' },
      { email: b, reason: 'hard_bounce' },
      { email: b.toUpperCase(), reason: 'manual' },
    ]);
    expect((await stored(a)).reason).toBe('complaint');
    expect((await stored(b)).reason).toBe('hard_bounce');
  });

  it('a manual re-add with an expiry neither downgrades nor shortens a permanent hard bounce', async () => {
    const email = address();
    await service.add({ email, reason: 'hard_bounce' });
    await service.add({ email, reason: 'manual', expiresInS: 3600 });
    expect(await stored(email)).toMatchObject({ reason: 'hard_bounce', is_permanent: true });
  });

  it('a lapsed strong entry is replaced by whatever comes next', async () => {
    const email = address();
    await service.add({ email, reason: 'complaint', expiresInS: 60 });
    await t.dataSource.query(
      `UPDATE blacklists SET expires_at = now() - interval '1 minute' WHERE email_hash = $1`,
      [emailHash(email)],
    );
    await service.add({ email, reason: 'unsubscribe' });
    expect(await stored(email)).toMatchObject({ reason: 'unsubscribe', is_permanent: true });
  });

  it('concurrent writers agree: the strongest reason stands whatever the commit order', async () => {
    for (let round = 0; round < 5; round++) {
      const email = address();
      const reasons: BlacklistReason[] = [
        'manual',
        'unsubscribe',
        'complaint',
        'fbl',
        'unsubscribe',
      ];
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          service.add({ email, reason: reasons[(i + round) % reasons.length] }),
        ),
      );
      expect((await stored(email)).reason).toBe('complaint');
    }
  });

  it('POST /api/v1/blacklist does not downgrade a complaint', async () => {
    const key = await t.createKey();
    const email = address();
    await service.add({ email, reason: 'complaint', source: 'fbl' });
    const res = await request(t.server)
      .post('/api/v1/blacklist')
      .set('Authorization', `Bearer ${key}`)
      .send({ email, reason: 'manual' });
    expect(res.status).toBeLessThan(300);
    expect(res.body.reason).toBe('complaint');
    expect((await stored(email)).reason).toBe('complaint');
  });

  it('a CSV import does not downgrade a hard bounce', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strength-'));
    try {
      const email = address();
      await service.add({ email, reason: 'hard_bounce', source: 'postal' });
      const file = join(dir, 'in.csv');
      await writeFile(file, `email,reason\n${email},unsubscribe\n`, 'utf8');
      const command = new BlacklistImportCommand(service);
      const spy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        await command.run([file], { reason: 'manual', source: 'import' });
      } finally {
        spy.mockRestore();
      }
      expect(await stored(email)).toMatchObject({ reason: 'hard_bounce', source: 'postal' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
