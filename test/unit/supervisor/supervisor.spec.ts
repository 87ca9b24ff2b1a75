import {
  ChildSpec,
  defaultTopology,
  RESTART_POLICY,
  Supervisor,
  SupervisorTimers,
  WORKER_NICE,
} from 'src/supervisor';

/** Time that moves only when the test says; due timers fire in order. */
class ManualTimers implements SupervisorTimers {
  private t = 0;
  private pending: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.t + ms, fn, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.pending
        .filter((p) => !p.cancelled && p.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.t = end;
  }

  get scheduled(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}

interface FakeChild {
  spec: ChildSpec;
  pid: number;
  signals: NodeJS.Signals[];
  exit(code: number | null, signal?: NodeJS.Signals | null): void;
}

/** Forks nothing: records each child, its signals, and lets the test end it. */
class FakeForker {
  readonly children: FakeChild[] = [];
  private nextPid = 1000;

  readonly fork = (
    spec: ChildSpec,
    onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  ) => {
    const child: FakeChild = {
      spec,
      pid: this.nextPid++,
      signals: [],
      exit: (code, signal = null) => onExit(code, signal),
    };
    this.children.push(child);
    return { pid: child.pid, kill: (signal: NodeJS.Signals) => child.signals.push(signal) };
  };

  latest(name: string): FakeChild {
    return this.children.filter((c) => c.spec.name === name).at(-1)!;
  }

  started(name: string): number {
    return this.children.filter((c) => c.spec.name === name).length;
  }
}

describe(Supervisor.name, () => {
  const SHUTDOWN_MS = 5000;
  let timers: ManualTimers;
  let forker: FakeForker;
  let lines: string[];
  /** The lines logged as problems (stderr). */
  let problems: string[];
  let supervisor: Supervisor;
  let exitCode: number | undefined;

  beforeEach(() => {
    timers = new ManualTimers();
    forker = new FakeForker();
    lines = [];
    problems = [];
    exitCode = undefined;
    supervisor = new Supervisor({
      specs: defaultTopology(1),
      fork: forker.fork,
      timers,
      log: (line, problem) => {
        lines.push(line);
        if (problem) problems.push(line);
      },
      shutdownTimeoutMs: SHUTDOWN_MS,
    });
    void supervisor.done.then((code) => (exitCode = code));
    supervisor.start();
  });

  /** Lets the `done` promise's continuation run. */
  const settled = () => new Promise((r) => setImmediate(r));

  describe('start', () => {
    it('forks one api and one worker process, the worker at a lower priority', () => {
      expect(forker.children.map((c) => [c.spec.name, c.spec.roles, c.spec.nice])).toEqual([
        ['api', 'api', 0],
        ['worker', 'worker,scheduler', WORKER_NICE],
      ]);
      expect(lines).toEqual([
        'started api process (pid 1000, roles api)',
        `started worker process (pid 1001, roles worker,scheduler, nice ${WORKER_NICE})`,
      ]);
      expect(problems).toEqual([]);
    });
  });

  describe('a crashed child', () => {
    it('is restarted after a delay that doubles with each crash in the window', () => {
      const delays: number[] = [];
      for (let crash = 1; crash < RESTART_POLICY.maxCrashes; crash++) {
        forker.latest('worker').exit(null, 'SIGKILL');
        const started = forker.started('worker');
        const before = timers.now();
        let waited = 0;
        while (forker.started('worker') === started) {
          timers.advance(100);
          waited += 100;
          if (waited > RESTART_POLICY.maxDelayMs) throw new Error('never restarted');
        }
        delays.push(timers.now() - before);
      }
      expect(delays).toEqual([500, 1000, 2000, 4000]);
      expect(problems).toContain(
        'worker process (pid 1001) exited with signal SIGKILL; restarting in 500 ms',
      );
      // The api process was left alone.
      expect(forker.started('api')).toBe(1);
      expect(forker.latest('api').signals).toEqual([]);
    });

    it('starts again from the first delay once earlier crashes are out of the window', () => {
      forker.latest('api').exit(1);
      timers.advance(500);
      forker.latest('api').exit(1);
      timers.advance(1000);
      expect(forker.started('api')).toBe(3);
      timers.advance(RESTART_POLICY.windowMs);
      forker.latest('api').exit(1);
      expect(lines.at(-1)).toBe('api process (pid 1003) exited with code 1; restarting in 500 ms');
    });

    it('stops everything with exit code 1 after too many crashes within the window', async () => {
      for (let crash = 1; crash <= RESTART_POLICY.maxCrashes; crash++) {
        forker.latest('worker').exit(1);
        if (crash < RESTART_POLICY.maxCrashes)
          timers.advance(RESTART_POLICY.firstDelayMs * 2 ** (crash - 1));
      }
      expect(forker.started('worker')).toBe(RESTART_POLICY.maxCrashes);
      expect(problems).toContain(
        `worker process exited ${RESTART_POLICY.maxCrashes} times within 60 s (last: pid 1005, code 1); giving up`,
      );
      expect(forker.latest('api').signals).toEqual(['SIGTERM']);
      forker.latest('api').exit(0);
      await settled();
      expect(exitCode).toBe(1);
      // Nothing restarts afterwards.
      timers.advance(RESTART_POLICY.windowMs);
      expect(forker.started('worker')).toBe(RESTART_POLICY.maxCrashes);
    });
  });

  describe('stop', () => {
    it('sends SIGTERM to every child and exits 0 once all exited cleanly', async () => {
      supervisor.stop('SIGTERM received');
      expect(forker.children.map((c) => c.signals)).toEqual([['SIGTERM'], ['SIGTERM']]);
      forker.latest('api').exit(0);
      await settled();
      expect(exitCode).toBeUndefined();
      // Killed by the SIGTERM before its handler was installed: still what was asked for.
      forker.latest('worker').exit(null, 'SIGTERM');
      await settled();
      expect(exitCode).toBe(0);
      expect(timers.scheduled).toBe(0);
    });

    it('does not restart a child that exits while stopping', async () => {
      supervisor.stop('SIGTERM received');
      forker.latest('worker').exit(1);
      timers.advance(RESTART_POLICY.maxDelayMs);
      expect(forker.started('worker')).toBe(1);
      forker.latest('api').exit(0);
      await settled();
      expect(exitCode).toBe(1);
    });

    it('cancels a pending restart', async () => {
      forker.latest('worker').exit(null, 'SIGKILL');
      supervisor.stop('SIGINT received');
      forker.latest('api').exit(0);
      await settled();
      expect(exitCode).toBe(0);
      timers.advance(RESTART_POLICY.maxDelayMs);
      expect(forker.started('worker')).toBe(1);
    });

    it('kills a child still running a second past the shutdown timeout, and exits 1', async () => {
      supervisor.stop('SIGTERM received');
      forker.latest('api').exit(0);
      timers.advance(SHUTDOWN_MS);
      expect(forker.latest('worker').signals).toEqual(['SIGTERM']);
      timers.advance(1000);
      expect(forker.latest('worker').signals).toEqual(['SIGTERM', 'SIGKILL']);
      expect(lines).toContain('worker process (pid 1001) still running; killing it');
      forker.latest('worker').exit(null, 'SIGKILL');
      await settled();
      expect(exitCode).toBe(1);
    });

    it('is idempotent (SIGINT then SIGTERM)', () => {
      supervisor.stop('SIGINT received');
      supervisor.stop('SIGTERM received');
      expect(forker.children.map((c) => c.signals)).toEqual([['SIGTERM'], ['SIGTERM']]);
    });
  });
});

describe(defaultTopology.name, () => {
  it('names several api processes apart and keeps one worker', () => {
    expect(defaultTopology(3).map((s) => `${s.name}:${s.roles}`)).toEqual([
      'api 1:api',
      'api 2:api',
      'api 3:api',
      'worker:worker,scheduler',
    ]);
  });
});
