import { readdirSync, readFileSync } from 'node:fs';
import { constants, getPriority } from 'node:os';
import { TemplateLimits } from 'src/modules/templates/template-limits';
import { TemplatePool, TemplatePoolBusyError } from 'src/modules/templates/template-pool';

jest.setTimeout(60_000);

const LIMITS: TemplateLimits = {
  maxFieldBytes: 16 * 1024 * 1024,
  maxMustaches: 1_000_000,
  maxNesting: 10,
  maxRenderSteps: 100_000,
  maxOutputBytes: 1024 * 1024,
  timeoutMs: 200,
};

/** Largest gap between event-loop turns while `work` runs (a blocked loop shows up here). */
async function loopLagDuring<T>(work: Promise<T>): Promise<{ result: T; maxLagMs: number }> {
  let maxLagMs = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    maxLagMs = Math.max(maxLagMs, now - last);
    last = now;
  }, 5);
  try {
    return { result: await work, maxLagMs };
  } finally {
    clearInterval(timer);
  }
}

describe(TemplatePool.name, () => {
  let pool: TemplatePool;

  beforeAll(() => {
    pool = new TemplatePool({
      threads: 1,
      memoryMb: 128,
      timeoutMs: LIMITS.timeoutMs,
      maxWaiting: 1,
    });
  });
  afterAll(() => pool.close());

  it('renders in a worker thread', async () => {
    const result = await pool.run({
      kind: 'render',
      src: { subject: 'Hi {{n}}', html: '<b>{{n}}</b>' },
      cacheKey: 'k1',
      vars: { n: '<A>' },
      limits: LIMITS,
    });
    expect(result).toMatchObject({
      ok: true,
      rendered: { subject: 'Hi <A>', html: '<b>&lt;A&gt;</b>', text: '<A>' },
    });
  });

  it('runs its threads at a lower CPU priority, the event loop at its own (Linux: per thread)', async () => {
    await pool.run({
      kind: 'render',
      src: { subject: 'x' },
      cacheKey: 'k-prio',
      vars: {},
      limits: LIMITS,
    });
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value (after the `(comm)`).
    const nice = (tid: string): number =>
      Number(
        readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ')[16],
      );
    const threads = readdirSync('/proc/self/task');
    expect(nice(String(process.pid))).toBe(getPriority());
    expect(threads.map(nice)).toContain(constants.priority.PRIORITY_BELOW_NORMAL);
  });

  it('ends an idle thread, giving its heap back, and starts one again when needed', async () => {
    const idle = new TemplatePool({
      threads: 1,
      memoryMb: 64,
      timeoutMs: LIMITS.timeoutMs,
      maxWaiting: 1,
      idleTimeoutMs: 300,
    });
    const task = {
      kind: 'render' as const,
      src: { subject: 'Hi {{n}}' },
      cacheKey: 'k-idle',
      vars: { n: 1 },
      limits: LIMITS,
    };
    try {
      await expect(idle.run(task)).resolves.toMatchObject({ ok: true });
      expect(idle.threadIds).toHaveLength(1);
      const deadline = Date.now() + 10_000;
      while (idle.threadIds.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(idle.threadIds).toEqual([]);
      await expect(idle.run(task)).resolves.toMatchObject({ ok: true });
    } finally {
      await idle.close();
    }
  });

  it('stops work that never yields (a huge compile) by terminating its thread, without blocking the event loop', async () => {
    const before = pool.threadIds;
    // A render compiles first: for 30,000 mustaches Handlebars' code generation alone takes
    // seconds (an accept-time `analyze` stops before it, template-renderer.ts `checkField`, and
    // can be fast enough on a quiet machine to finish within the budget), with no loop where
    // the render could check the clock: only terminating the thread stops it.
    const html = '{{a}}{{b}}'.repeat(15_000);
    const started = Date.now();
    const { result, maxLagMs } = await loopLagDuring(
      pool.run({
        kind: 'render',
        src: { subject: 's', html },
        cacheKey: 'huge',
        vars: {},
        limits: LIMITS,
      }),
    );
    expect(result).toEqual({
      ok: false,
      error: expect.objectContaining({ kind: 'limit', limit: 'TEMPLATE_RENDER_TIMEOUT_MS' }),
    });
    // Budget 200 ms + grace 250 ms from the moment the thread started it (plus thread start).
    expect(Date.now() - started).toBeLessThan(5000);
    expect(maxLagMs).toBeLessThan(100);
    // The thread was replaced, and the replacement works.
    const after = await pool.run({
      kind: 'render',
      src: { subject: 'ok {{n}}' },
      cacheKey: 'k2',
      vars: { n: 1 },
      limits: LIMITS,
    });
    expect(after).toMatchObject({ ok: true, rendered: { subject: 'ok 1' } });
    expect(pool.threadIds).not.toEqual(before);
  });

  it('refuses work beyond its waiting queue', async () => {
    const slow = {
      kind: 'analyze' as const,
      src: { subject: 's', html: '{{a}}'.repeat(20_000) },
      limits: LIMITS,
    };
    const runs = [pool.run(slow), pool.run(slow), pool.run(slow)];
    const settled = await Promise.allSettled(runs);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([
      expect.objectContaining({ reason: expect.any(TemplatePoolBusyError) }),
    ]);
  });

  it('ends its threads on close', async () => {
    const own = new TemplatePool({ threads: 1, memoryMb: 64, timeoutMs: 1000, maxWaiting: 1 });
    await own.run({ kind: 'analyze', src: { subject: 'x' }, limits: LIMITS });
    expect(own.threadIds).toHaveLength(1);
    await own.close();
    expect(own.threadIds).toHaveLength(0);
    await expect(
      own.run({ kind: 'analyze', src: { subject: 'x' }, limits: LIMITS }),
    ).rejects.toThrow(TemplatePoolBusyError);
  });
});
