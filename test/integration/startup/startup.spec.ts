import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from 'src/startup';
import { createTestDatabase, dropDatabase, TestDatabase, urlForDatabase } from 'test/utils/test-db';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import {
  AppProcess,
  ensureBuilt,
  freePort,
  ProcessGroup,
  ProcessRun,
  ROOT,
  runToExit as runBinary,
} from 'test/utils/processes';

jest.setTimeout(180_000);

function runToExit(vars: Record<string, string>, timeoutMs = 30_000): Promise<ProcessRun> {
  return runBinary({ env: vars, timeoutMs });
}

describe('start-up (the built binary)', () => {
  let db: TestDatabase;
  const prefix = `test-boot-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    // Tests the real entry point, so it needs a build (a no-op when dist is current).
    ensureBuilt();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    await clearRedisPrefix(prefix);
  });

  it('exits non-zero with one clear line when Redis is unreachable', async () => {
    const run = await runToExit({
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:1/0',
      REDIS_KEY_PREFIX: prefix,
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^email-sender: Redis is unreachable at redis:\/\/127\.0\.0\.1:1\/0 .*REDIS_URL/,
      ),
    ]);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits non-zero with one clear line when PostgreSQL is unreachable, hiding the password', async () => {
    const run = await runToExit({
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/email_sender_test_nowhere',
      REDIS_URL: TEST_REDIS_URL,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^email-sender: PostgreSQL is unreachable at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/.*DATABASE_URL/,
    );
    expect(run.stderr).not.toContain('hunter2');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses an invalid configuration, naming the variable', async () => {
    const run = await runToExit({ PORT: 'eighty' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^email-sender: Invalid configuration: PORT/);
  });

  it('refuses production with ADMIN_PASSWORD=admin and without TRACKING_SECRET', async () => {
    const run = await runToExit({ NODE_ENV: 'production', ADMIN_PASSWORD: 'admin' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TRACKING_SECRET is required when NODE_ENV=production');
    expect(run.stderr).toContain('ADMIN_PASSWORD must not be "admin"');
  });

  describe('on a machine with no database yet', () => {
    const dbName = `email_sender_test_boot_${randomBytes(4).toString('hex')}`;
    const processes = new ProcessGroup();

    afterAll(async () => {
      await processes.killAll();
      await dropDatabase(dbName);
    });

    it('creates and migrates the database, prints a first key that works, and stops on SIGTERM', async () => {
      const port = await freePort();
      const vars = {
        DATABASE_URL: urlForDatabase(dbName),
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        PORT: String(port),
      };
      const first: AppProcess = processes.start({ env: vars, name: 'first start' });
      await first.waitForOutput(/esk_[0-9A-Za-z]{40}[\s\S]*curl/, 60_000);
      const out = first.output;
      const key = /esk_[0-9A-Za-z]{40}/.exec(out)![0];
      expect(out).toContain(`curl -s -X POST http://localhost:${port}/api/v1/send`);

      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      const body = (await health.json()) as { info: Record<string, { status: string }> };
      expect(body.info.database.status).toBe('up');
      expect(body.info.redis.status).toBe('up');

      const status = await fetch(`http://127.0.0.1:${port}/api/v1/status/${crypto.randomUUID()}`, {
        headers: { Authorization: `Bearer ${key}` },
      });
      expect(status.status).toBe(404);
      expect(((await status.json()) as { error: { code: string } }).error.code).toBe('not_found');

      await expect(first.stop('SIGTERM')).resolves.toMatchObject({ code: 0 });

      // A second start finds a key and prints none.
      const second = processes.start({ env: vars, name: 'second start' });
      await second.waitForOutput('serving', 60_000);
      await new Promise((r) => setTimeout(r, 500));
      await expect(second.stop('SIGTERM')).resolves.toMatchObject({ code: 0 });
      expect(second.stdout).not.toMatch(/esk_/);
    });
  });
});

describe(runMigrations.name, () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ template: null });
  });
  afterAll(() => db.drop());

  it('migrates once when several processes start together (advisory lock)', async () => {
    const results = await Promise.all([1, 2, 3].map(() => runMigrations({ databaseUrl: db.url })));
    const applied = results.flat();
    const all = readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts'));
    // Each migration ran exactly once, in one of the three processes; the others found nothing.
    expect(applied).toHaveLength(all.length);
    expect(new Set(applied).size).toBe(all.length);
    expect(results.filter((r) => r.length === 0)).toHaveLength(2);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM migrations');
      expect(Number(rows[0].n)).toBe(all.length);
    } finally {
      await c.end();
    }
  });
});
