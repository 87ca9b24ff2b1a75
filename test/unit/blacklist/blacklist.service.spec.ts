import { createHash } from 'node:crypto';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { BlacklistRepository, BlacklistRow } from 'src/modules/blacklist/blacklist.repository';
import {
  BlacklistService,
  emailHash,
  normalizeEmail,
} from 'src/modules/blacklist/blacklist.service';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

function row(overrides: Partial<BlacklistRow> = {}): BlacklistRow {
  return {
    id: 1,
    email: 'ann@example.com',
    email_hash: sha256('ann@example.com'),
    reason: 'manual',
    scope: 'all',
    source: 'api',
    details: null,
    expires_at: null,
    created_at: new Date('2026-01-01T00:00:00.000Z'),
    cursor_at: '2026-01-01T00:00:00.000123Z',
    ...overrides,
  };
}

function makeService(): { service: BlacklistService; repo: jest.Mocked<BlacklistRepository> } {
  const repo = {
    findActiveByHash: jest.fn(),
    findActiveByHashes: jest.fn(),
    upsertReturning: jest.fn(),
    upsertCount: jest.fn(),
    deleteByHash: jest.fn(),
    listActive: jest.fn(),
  } as unknown as jest.Mocked<BlacklistRepository>;
  return { service: new BlacklistService(repo), repo };
}

describe('normalizeEmail', () => {
  it('trims and lower-cases the address', () => {
    expect(normalizeEmail('  Ann@Example.COM \t\n')).toBe('ann@example.com');
  });

  it('leaves an already normal address alone', () => {
    expect(normalizeEmail('ann@example.com')).toBe('ann@example.com');
  });
});

describe('emailHash', () => {
  it('is the sha256 hex of the normalized address', () => {
    expect(emailHash('ann@example.com')).toBe(sha256('ann@example.com'));
    expect(emailHash('ann@example.com')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is the same for every spelling of one address', () => {
    expect(emailHash(' Ann@Example.COM ')).toBe(emailHash('ann@example.com'));
  });

  it('differs between addresses', () => {
    expect(emailHash('ann@example.com')).not.toBe(emailHash('bob@example.com'));
  });
});

describe(BlacklistService.name, () => {
  describe('findSuppressed', () => {
    it('asks once with distinct hashes and keys the answer by normalized address', async () => {
      const { service, repo } = makeService();
      repo.findActiveByHashes.mockResolvedValue([row()]);
      const found = await service.findSuppressed(['Ann@Example.COM ', 'ann@example.com', 'b@x.io']);
      expect(repo.findActiveByHashes).toHaveBeenCalledTimes(1);
      expect(repo.findActiveByHashes).toHaveBeenCalledWith([
        sha256('ann@example.com'),
        sha256('b@x.io'),
      ]);
      expect([...found.entries()]).toEqual([
        [
          'ann@example.com',
          {
            email: 'ann@example.com',
            reason: 'manual',
            scope: 'all',
            source: 'api',
            expiresAt: null,
          },
        ],
      ]);
    });

    it('does not query for an empty list', async () => {
      const { service, repo } = makeService();
      await expect(service.findSuppressed([])).resolves.toEqual(new Map());
      expect(repo.findActiveByHashes).not.toHaveBeenCalled();
    });
  });

  describe('addMany', () => {
    it('sends one row per address, the last occurrence winning', async () => {
      const { service, repo } = makeService();
      repo.upsertCount.mockResolvedValue(2);
      await expect(
        service.addMany([
          { email: 'A@x.io', reason: 'manual' },
          { email: 'b@x.io', reason: 'complaint' },
          { email: ' a@X.io', reason: 'hard_bounce', expiresInS: 3600, source: 'bounce' },
        ]),
      ).resolves.toBe(2);
      expect(repo.upsertCount).toHaveBeenCalledWith([
        {
          email: 'b@x.io',
          emailHash: sha256('b@x.io'),
          reason: 'complaint',
          scope: 'all',
          source: null,
          details: null,
          expiresInS: null,
        },
        {
          email: 'a@x.io',
          emailHash: sha256('a@x.io'),
          reason: 'hard_bounce',
          scope: 'all',
          source: 'bounce',
          details: null,
          expiresInS: 3600,
        },
      ]);
    });

    it('cuts a source longer than 64 characters instead of failing', async () => {
      const { service, repo } = makeService();
      repo.upsertCount.mockResolvedValue(1);
      await service.addMany([{ email: 'a@x.io', reason: 'manual', source: ` ${'s'.repeat(80)}` }]);
      expect(repo.upsertCount.mock.calls[0][0][0].source).toBe('s'.repeat(64));
    });

    it('does not query for an empty list', async () => {
      const { service, repo } = makeService();
      await expect(service.addMany([])).resolves.toBe(0);
      expect(repo.upsertCount).not.toHaveBeenCalled();
    });

    it.each([
      ['an empty address', { email: '   ', reason: 'manual' }],
      ['an unknown reason', { email: 'a@x.io', reason: 'nope' }],
      ['a negative expiry', { email: 'a@x.io', reason: 'manual', expiresInS: -5 }],
      ['a fractional expiry', { email: 'a@x.io', reason: 'manual', expiresInS: 1.5 }],
    ])('rejects %s without querying', async (_label, input) => {
      const { service, repo } = makeService();
      await expect(service.addMany([input as never])).rejects.toBeInstanceOf(ValidationFailedError);
      expect(repo.upsertCount).not.toHaveBeenCalled();
    });
  });

  describe('list', () => {
    it('returns a next_cursor only when there is another page, and it round-trips', async () => {
      const { service, repo } = makeService();
      repo.listActive.mockResolvedValue([row({ id: 9 }), row({ id: 8 }), row({ id: 7 })]);
      const page = await service.list({ limit: 2 });
      expect(repo.listActive).toHaveBeenLastCalledWith({
        reason: undefined,
        after: undefined,
        limit: 3,
      });
      expect(page.data).toHaveLength(2);
      expect(page.next_cursor).toEqual(expect.any(String));

      repo.listActive.mockResolvedValue([row({ id: 7 })]);
      const next = await service.list({ limit: 2, cursor: page.next_cursor!, reason: 'manual' });
      expect(repo.listActive).toHaveBeenLastCalledWith({
        reason: 'manual',
        after: { createdAt: '2026-01-01T00:00:00.000123Z', id: 8 },
        limit: 3,
      });
      expect(next.next_cursor).toBeNull();
    });

    it.each([
      ['garbage', 'not-a-cursor'],
      ['a wrong shape', Buffer.from('{"a":1}').toString('base64url')],
      ['a bad timestamp', Buffer.from('["yesterday",3]').toString('base64url')],
      ['a bad id', Buffer.from('["2026-01-01T00:00:00.000000Z",-3]').toString('base64url')],
    ])('rejects a cursor that is %s', async (_label, cursor) => {
      const { service, repo } = makeService();
      await expect(service.list({ cursor })).rejects.toBeInstanceOf(ValidationFailedError);
      expect(repo.listActive).not.toHaveBeenCalled();
    });
  });
});
