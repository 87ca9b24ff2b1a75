import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { CliModule } from 'src/cli/cli.module';
import { BlacklistImportCommand } from 'src/cli/commands/blacklist-import.command';
import { BlacklistService, emailHash } from 'src/modules/blacklist/blacklist.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

const DEFAULTS = { reason: 'manual' as const, source: 'import' };

describe(BlacklistImportCommand.name, () => {
  let t: TestApp;
  let service: BlacklistService;
  let command: BlacklistImportCommand;
  let dir: string;
  let seq = 0;

  const csvFile = async (text: string): Promise<string> => {
    const path = join(dir, `import-${++seq}.csv`);
    await writeFile(path, text, 'utf8');
    return path;
  };
  /** Runs the command and returns what it printed. */
  const run = async (args: string[], options = DEFAULTS): Promise<string> => {
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await command.run(args, options);
    } finally {
      spy.mockRestore();
    }
    return out.join('');
  };
  const stored = async (email: string) => {
    const rows = await t.dataSource.query(
      `SELECT email, reason, source, details, expires_at IS NULL AS is_permanent,
              extract(epoch FROM expires_at - now())::float8 AS expires_in_s
       FROM blacklists WHERE email_hash = $1`,
      [emailHash(email)],
    );
    return rows[0];
  };

  beforeAll(async () => {
    t = await bootTestApp();
    service = t.app.get(BlacklistService);
    command = new BlacklistImportCommand(service);
    dir = await mkdtemp(join(tmpdir(), 'blacklist-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await t.close();
  });

  describe('run', () => {
    it('imports valid rows with their own columns and reports invalid lines', async () => {
      const path = await csvFile(
        [
          'Email,Reason,details,expires_in,ignored',
          ' Ann@Example.COM ,complaint,"said ""stop"", twice",,x',
          'bob@example.com,,"line one',
          'line two",3600,',
          'not-an-email,manual,,,',
          'carl@example.com,because,,,',
          'dana@example.com,,,-5,',
          'erin@example.com,,,59,',
          '',
          '"fay@example.com"',
          '',
        ].join('\r\n'),
      );
      const output = await run([path]);

      expect(output).toBe('imported 3, skipped 4 (invalid)\ninvalid lines: 5, 6, 7, 8\n');
      await expect(stored('ann@example.com')).resolves.toEqual({
        email: 'ann@example.com',
        reason: 'complaint',
        source: 'import',
        details: 'said "stop", twice',
        is_permanent: true,
        expires_in_s: null,
      });
      const bob = await stored('bob@example.com');
      expect(bob).toMatchObject({ reason: 'manual', details: 'line one\r\nline two' });
      expect(bob.expires_in_s).toBeGreaterThan(3500);
      await expect(stored('fay@example.com')).resolves.toMatchObject({ reason: 'manual' });
      for (const e of [
        'not-an-email',
        'carl@example.com',
        'dana@example.com',
        'erin@example.com',
      ]) {
        await expect(stored(e)).resolves.toBeUndefined();
      }
    });

    it('applies --reason and --source to rows without a reason', async () => {
      const path = await csvFile('email\ngail@example.com\n');
      await expect(run([path], { reason: 'spam_trap' as never, source: 'legacy' })).resolves.toBe(
        'imported 1, skipped 0 (invalid)\n',
      );
      await expect(stored('gail@example.com')).resolves.toMatchObject({
        reason: 'spam_trap',
        source: 'legacy',
      });
    });

    it('takes a scope per row or from --scope, and refuses an unknown one', async () => {
      const path = await csvFile(
        'email,scope\nscope-a@example.com,broadcast\nscope-b@example.com,\nscope-c@example.com,marketing\n',
      );
      await expect(
        run([path], { reason: 'unsubscribe', scope: 'transactional', source: 'import' } as never),
      ).resolves.toBe('imported 2, skipped 1 (invalid)\ninvalid lines: 4\n');
      const scopes = await t.dataSource.query(
        `SELECT email, scope FROM blacklists WHERE email LIKE 'scope-%' ORDER BY email`,
      );
      expect(scopes).toEqual([
        { email: 'scope-a@example.com', scope: 'broadcast' },
        { email: 'scope-b@example.com', scope: 'transactional' },
      ]);
    });

    it('upserts in chunks of 1,000 and lists only the first 10 invalid lines', async () => {
      const lines = ['email'];
      for (let i = 0; i < 2500; i++) lines.push(`chunk${i}@example.com`);
      for (let i = 0; i < 12; i++) lines.push(`broken${i}`);
      const path = await csvFile(lines.join('\n'));
      const addMany = jest.spyOn(service, 'addMany');
      try {
        const output = await run([path]);
        expect(addMany.mock.calls.map(([inputs]) => inputs.length)).toEqual([1000, 1000, 500]);
        expect(output).toBe(
          'imported 2500, skipped 12 (invalid)\n' +
            'invalid lines: 2502, 2503, 2504, 2505, 2506, 2507, 2508, 2509, 2510, 2511, …\n',
        );
      } finally {
        addMany.mockRestore();
      }
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM blacklists WHERE email LIKE 'chunk%@example.com'`,
      );
      expect(n).toBe(2500);
    });

    it('updates addresses that are already suppressed, never to a weaker reason', async () => {
      await service.add({ email: 'hal@example.com', reason: 'manual', source: 'api' });
      await service.add({ email: 'hank@example.com', reason: 'hard_bounce', source: 'postal' });
      const path = await csvFile(
        'email,details\nHAL@example.com,re-imported\nhank@example.com,re-imported\n',
      );
      await expect(run([path])).resolves.toBe('imported 2, skipped 0 (invalid)\n');
      await expect(stored('hal@example.com')).resolves.toMatchObject({
        reason: 'manual',
        source: 'import',
        details: 're-imported',
      });
      // A manual import does not downgrade a hard bounce (README "Management").
      await expect(stored('hank@example.com')).resolves.toMatchObject({
        reason: 'hard_bounce',
        source: 'postal',
        details: null,
      });
    });

    it('counts a row whose quoted field never closes as invalid', async () => {
      const path = await csvFile('email\nivy@example.com\n"jon@example.com\nkim@example.com\n');
      await expect(run([path])).resolves.toBe(
        'imported 1, skipped 1 (invalid)\ninvalid lines: 3\n',
      );
    });

    it('fails for a missing file', async () => {
      await expect(run([join(dir, 'nope.csv')])).rejects.toThrow(/cannot read .*nope\.csv/);
    });

    it('fails for a directory', async () => {
      await expect(run([dir])).rejects.toThrow(/cannot read/);
    });

    it('fails without an email column and imports nothing', async () => {
      const path = await csvFile('mail,reason\nlee@example.com,manual\n');
      await expect(run([path])).rejects.toThrow(/no "email" column/);
      await expect(stored('lee@example.com')).resolves.toBeUndefined();
    });

    it('fails for an empty file', async () => {
      const path = await csvFile('');
      await expect(run([path])).rejects.toThrow(/empty/);
    });
  });

  describe('parseReason', () => {
    it('accepts a known reason and rejects others', () => {
      expect(command.parseReason('Complaint')).toBe('complaint');
      expect(() => command.parseReason('later')).toThrow(/--reason must be one of/);
    });
  });

  describe('parseScope', () => {
    it('accepts all or a stream and rejects others', () => {
      expect(command.parseScope(' Broadcast ')).toBe('broadcast');
      expect(() => command.parseScope('marketing')).toThrow(/--scope must be one of/);
    });
  });

  describe('parseSource', () => {
    it('accepts 1 to 64 characters', () => {
      expect(command.parseSource(' crm ')).toBe('crm');
      expect(() => command.parseSource(' ')).toThrow(/--source/);
      expect(() => command.parseSource('s'.repeat(65))).toThrow(/--source/);
    });
  });

  describe('CliModule', () => {
    it('provides the command with its dependencies', async () => {
      const ctx = await NestFactory.createApplicationContext(CliModule.forRoot(t.config), {
        logger: false,
      });
      try {
        expect(ctx.get(BlacklistImportCommand)).toBeInstanceOf(BlacklistImportCommand);
      } finally {
        await ctx.close();
      }
    });
  });
});
