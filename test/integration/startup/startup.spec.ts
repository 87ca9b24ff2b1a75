import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from 'src/startup';
import { createTestDatabase, dropDatabase, TestDatabase, urlForDatabase } from 'test/utils/test-db';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Environment for the real binary: only what we set, plus PATH. */
function env(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...vars };
}

function runToExit(vars: Record<string, string>, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], { env: env(vars), cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not exit within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('start-up (the built binary)', () => {
  let db: TestDatabase;
  const prefix = `test-boot-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    // Tests the real entry point, so it needs a build (a no-op when dist is current).
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-if-needed.js')], {
      cwd: ROOT,
      stdio: 'pipe',
    });
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
    let child: ChildProcess | undefined;

    afterAll(async () => {
      child?.kill('SIGKILL');
      await dropDatabase(dbName);
    });

    it('creates and migrates the database, prints a first key that works, and stops on SIGTERM', async () => {
      const port = await freePort();
      child = spawn(process.execPath, [MAIN], {
        cwd: ROOT,
        env: env({
          DATABASE_URL: urlForDatabase(dbName),
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          PORT: String(port),
        }),
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 60_000;
      while (!/esk_[0-9A-Za-z]{40}[\s\S]*curl/.test(out)) {
        if (Date.now() > deadline) throw new Error(`no key printed: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
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

      const exited = new Promise<number | null>((resolve) =>
        child!.on('exit', (code) => resolve(code)),
      );
      child.kill('SIGTERM');
      await expect(exited).resolves.toBe(0);

      // A second start finds a key and prints none.
      const second = spawn(process.execPath, [MAIN], {
        cwd: ROOT,
        env: env({
          DATABASE_URL: urlForDatabase(dbName),
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          PORT: String(port),
        }),
      });
      let out2 = '';
      second.stdout.on('data', (d: Buffer) => (out2 += d.toString()));
      while (!out2.includes('serving')) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500));
      const exited2 = new Promise<number | null>((resolve) =>
        second.on('exit', (code) => resolve(code)),
      );
      second.kill('SIGTERM');
      await expect(exited2).resolves.toBe(0);
      expect(out2).not.toMatch(/esk_/);
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
