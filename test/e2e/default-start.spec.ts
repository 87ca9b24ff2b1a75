import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { AppProcess, ensureBuilt, freePort, ProcessGroup } from 'test/utils/processes';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { createTestDatabase, TestDatabase, testRedisPrefix } from 'test/utils/test-db';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(240_000);

/** True while `pid` is a live process (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Linux: the state follows the parenthesised command name in /proc/<pid>/stat.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** The pids the supervisor reported (`started worker process (pid …`), in order; `api` or `api 2`. */
function startedPids(p: AppProcess, name: 'api' | 'worker'): number[] {
  const re = new RegExp(`started ${name}( \\d+)? process \\(pid (\\d+),`, 'g');
  return [...p.stdout.matchAll(re)].map((m) => Number(m[2]));
}

/**
 * `npm start` with APP_ROLES unset (README "Processes, roles and scaling out"): the built
 * binary supervises an API process and a worker process (src/supervisor.ts).
 */
describe('the default start (supervised processes)', () => {
  const processes = new ProcessGroup();
  const prefix = testRedisPrefix();
  let db: TestDatabase;
  let pg: Client;

  const env = (port: number): Record<string, string> => ({
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    PORT: String(port),
    MAIL_TRANSPORT: 'sandbox',
    DB_POOL_SIZE: '5',
    WORKER_CONCURRENCY: '4',
    // No TRACKING_SECRET: the supervisor's per-boot secret must reach both children.
  });

  beforeAll(async () => {
    ensureBuilt();
    db = await createTestDatabase();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
  });
  afterAll(async () => {
    await processes.killAll();
    await pg.end();
    await db.drop();
    await clearRedisPrefix(prefix);
  });

  const send = async (port: number, key: string, to: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/send`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        to,
        from: 'Shop <news@shop.example>',
        subject: 'Hello',
        html: '<p>Hi <a href="https://shop.example/offer">offer</a></p>',
      }),
    });
    const body = (await res.json()) as { message_id: string };
    expect(res.status).toBe(202);
    return body.message_id;
  };

  const delivered = (port: number, key: string, id: string) =>
    waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/status/${id}`, {
          headers: { Authorization: `Bearer ${key}` },
        });
        const body = (await res.json()) as { status: string };
        if (body.status === 'failed') throw new Error(`${id} failed`);
        return body.status === 'delivered';
      },
      `${id} delivered`,
      90_000,
      200,
    );

  it('prints the topology and a first key, delivers, restarts a killed worker, and stops on SIGTERM', async () => {
    const port = await freePort();
    const app = processes.start({ env: env(port), name: 'default start' });
    await app.waitForOutput(/esk_[0-9A-Za-z]{40}[\s\S]*curl/, 120_000);
    await app.waitForOutput('running roles worker,scheduler', 120_000);
    expect(app.stdout).toMatch(/supervising \d+ api \+ 1 worker process/);
    const key = /esk_[0-9A-Za-z]{40}/.exec(app.stdout)![0];
    expect(app.stdout).toContain(`curl -s -X POST http://localhost:${port}/api/v1/send`);
    // Printed once, by one API process.
    expect(app.stdout.match(/esk_[0-9A-Za-z]{40}/g)!.length).toBe(3);

    const [worker] = startedPids(app, 'worker');
    const apiPids = startedPids(app, 'api');
    expect(apiPids.length).toBeGreaterThanOrEqual(1);
    expect([worker, ...apiPids].every(alive)).toBe(true);

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const checks = (await health.json()) as { info: Record<string, { status: string }> };
    expect(checks.info.database.status).toBe('up');
    expect(checks.info.redis.status).toBe('up');

    // The worker process delivers what the API process accepted.
    const first = await send(port, key, 'ann@example.com');
    await delivered(port, key, first);

    // /metrics of the API process aggregates the worker's: it counts the transitions.
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return /^email_transitions_total\{from="sent",to="delivered",[^}]*\} [1-9]/m.test(
          await res.text(),
        );
      },
      'the worker process transitions on /metrics',
      30_000,
      500,
    );

    // The worker reads the API process's event-loop load (README "Processes, roles and
    // scaling out": adaptive concurrency) and runs between 1 and WORKER_CONCURRENCY deliveries.
    await waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const load = /^worker_api_event_loop_utilization (\S+)$/m.exec(text);
        const delivery = /^worker_queue_concurrency\{queue="email-delivery"\} (\d+)$/m.exec(text);
        return (
          load !== null &&
          Number(load[1]) >= 0 &&
          delivery !== null &&
          Number(delivery[1]) >= 1 &&
          Number(delivery[1]) <= 4
        );
      },
      "the worker adapting to the API process's load on /metrics",
      30_000,
      500,
    );

    // A link the worker signed is accepted by the API: both read one tracking secret.
    const [row] = (
      await pg.query<{ html: string }>(
        `SELECT status_details->'sandbox'->>'html' AS html FROM email_logs WHERE external_message_id = $1`,
        [first],
      )
    ).rows;
    const click = /href="https?:\/\/[^/"]+(\/t\/c\/[^"]+)"/.exec(row.html)![1];
    const redirect = await fetch(`http://127.0.0.1:${port}${click}`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('https://shop.example/offer');

    // A killed worker process is replaced, and the replacement delivers.
    process.kill(worker, 'SIGKILL');
    await app.waitForOutput(
      new RegExp(`worker process \\(pid ${worker}\\) exited with signal SIGKILL; restarting`),
    );
    await waitFor(() => startedPids(app, 'worker').length === 2, 'a second worker', 30_000);
    const [, replacement] = startedPids(app, 'worker');
    expect(replacement).not.toBe(worker);
    await waitFor(
      () => app.stdout.match(/running roles worker,scheduler/g)!.length === 2,
      'the replacement worker running',
      120_000,
      100,
    );
    const second = await send(port, key, 'bob@example.com');
    await delivered(port, key, second);

    // SIGTERM: every child stops gracefully, then the supervisor exits 0.
    const run = await app.stop('SIGTERM', 60_000);
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(run.stdout).toContain('every child process has exited; exiting with code 0');
    expect([replacement, ...apiPids].filter(alive)).toEqual([]);
  });

  it('leaves no child behind when the supervisor itself is killed', async () => {
    const port = await freePort();
    const app = processes.start({ env: env(port), name: 'killed supervisor' });
    await app.waitReady(port, 120_000);
    await app.waitForOutput('running roles worker,scheduler', 120_000);
    const children = [...startedPids(app, 'api'), ...startedPids(app, 'worker')];
    expect(children.length).toBeGreaterThanOrEqual(2);
    expect(children.every(alive)).toBe(true);

    await app.kill();
    await waitFor(() => children.every((pid) => !alive(pid)), 'the children gone', 30_000, 100);
  });

  it('runs every role in one process with APP_PROCESSES=single', async () => {
    const port = await freePort();
    const app = processes.start({
      env: { ...env(port), APP_PROCESSES: 'single' },
      name: 'single process',
    });
    await app.waitForOutput(/serving .*\(roles api,worker,scheduler,/, 120_000);
    expect(app.stdout).not.toContain('supervising');
    await expect(app.stop('SIGTERM', 60_000)).resolves.toMatchObject({ code: 0 });
  });
});
