import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * The built binaries as real OS processes: the app (`dist/src/main.js`) in any APP_ROLES and
 * the CLI (`dist/src/cli/main.js`). Output is collected, readiness awaited, and every child
 * this module started is SIGKILLed when the test process exits, even after a failed test.
 */

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'src', 'main.js');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Children still running; killed if the test process exits first (a crash, a timeout). */
const live = new Set<ChildProcess>();
const killLive = (): void => {
  for (const child of live) child.kill('SIGKILL');
};

function track(child: ChildProcess): void {
  if (live.size === 0) process.on('exit', killLive);
  live.add(child);
}

function untrack(child: ChildProcess): void {
  live.delete(child);
  if (live.size === 0) process.off('exit', killLive);
}

/** Builds dist/ when a source file is newer than the last build (a no-op otherwise). */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-if-needed.js')], {
    cwd: ROOT,
    stdio: 'pipe',
  });
}

/** A TCP port free on the loopback interface right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Environment for the real binary: only what the test sets, plus PATH. */
export function processEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  // TRUST_PROXY: the tests stand in for a reverse proxy on loopback (X-Forwarded-For).
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    TRUST_PROXY: 'loopback',
    ...vars,
  };
}

/**
 * Node options that shift this child's wall clock (`Date`, `Date.now()`) by `offsetMs`, so
 * a cron tick can be reached in seconds. Timers and the monotonic clock are untouched; the
 * shift applies to the whole process, never to a particular code path of the app.
 */
export function shiftedClock(offsetMs: number): string[] {
  if (!Number.isInteger(offsetMs)) throw new RangeError(`offsetMs must be an integer`);
  const source = `
const RealDate = globalThis.Date;
const offset = ${offsetMs};
function ShiftedDate(...args) {
  if (!new.target) return new RealDate(RealDate.now() + offset).toString();
  return args.length === 0 ? new RealDate(RealDate.now() + offset) : new RealDate(...args);
}
ShiftedDate.prototype = RealDate.prototype;
ShiftedDate.now = () => RealDate.now() + offset;
ShiftedDate.parse = RealDate.parse;
ShiftedDate.UTC = RealDate.UTC;
globalThis.Date = ShiftedDate;`;
  return ['--import', `data:text/javascript,${encodeURIComponent(source)}`];
}

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** Script to run; the app's entry point by default. */
  script?: string;
  args?: string[];
  /** Options for node itself (before the script), e.g. `shiftedClock(…)`. */
  nodeArgs?: string[];
  /** Variables on top of `processEnv`'s. */
  env?: Record<string, string>;
  /** Shown in errors, to tell processes apart. */
  name?: string;
}

/** One running child: its output so far, readiness, and a stop that awaits its exit. */
export class AppProcess {
  stdout = '';
  stderr = '';
  /** stdout and stderr interleaved as they arrived. */
  output = '';
  readonly name: string;
  readonly exited: Promise<ProcessRun>;
  private readonly child: ChildProcess;
  private result?: ProcessRun;

  private constructor(opts: SpawnOptions) {
    this.child = spawn(
      process.execPath,
      [...(opts.nodeArgs ?? []), opts.script ?? MAIN, ...(opts.args ?? [])],
      { cwd: ROOT, env: processEnv(opts.env ?? {}) },
    );
    this.name = opts.name ?? `process ${this.child.pid ?? '?'}`;
    track(this.child);
    // Decoded as a stream, so a character split between chunks stays whole.
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.output += d;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.output += d;
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams ended, so nothing written is missed.
      this.child.once('close', (code, signal) => {
        untrack(this.child);
        this.result = { code, signal, stdout: this.stdout, stderr: this.stderr };
        resolve(this.result);
      });
    });
  }

  static start(opts: SpawnOptions = {}): AppProcess {
    return new AppProcess(opts);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.result === undefined;
  }

  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  async waitForOutput(pattern: RegExp | string, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const re =
      typeof pattern === 'string'
        ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = re.exec(this.output);
      if (match) return match;
      if (!this.running) {
        throw new Error(
          `${this.name} exited (${this.describeExit()}) before ${re}:\n${this.output}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Ready: an `api` process answers 200 on /health at `port`; any other prints
   * `running roles …` (after Nest's init, so its crons and queue workers are registered).
   */
  async waitReady(port?: number, timeoutMs = 60_000): Promise<void> {
    if (port === undefined) {
      await this.waitForOutput(/email-sender: running roles /, timeoutMs);
      return;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        throw new Error(
          `${this.name} exited (${this.describeExit()}) before ready:\n${this.output}`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: /health not 200 within ${timeoutMs} ms:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` and awaits the exit; SIGKILLs it if it has not exited by the timeout. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ProcessRun> {
    if (!this.running) return this.result!;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return first;
  }

  /** SIGKILL now (teardown); resolves once it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  private describeExit(): string {
    return `code ${this.result?.code ?? 'null'}, signal ${this.result?.signal ?? 'none'}`;
  }
}

/** Children started for one test file; `killAll` in afterAll cleans up whatever happened. */
export class ProcessGroup {
  private readonly processes: AppProcess[] = [];

  start(opts: SpawnOptions): AppProcess {
    const p = AppProcess.start(opts);
    this.processes.push(p);
    return p;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
  }
}

/** Runs the binary to its exit; rejects (after SIGKILL) if it has not exited in time. */
export async function runToExit(opts: SpawnOptions & { timeoutMs?: number }): Promise<ProcessRun> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const p = AppProcess.start(opts);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    await p.kill();
    throw new Error(`did not exit within ${timeoutMs} ms: ${p.stdout}${p.stderr}`);
  }
  return first;
}

/** Runs the built CLI (`npm run cli -- …` without the build step) to its exit. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs?: number,
): Promise<ProcessRun> {
  return runToExit({ script: CLI, args, env, timeoutMs, name: `cli ${args.join(' ')}` });
}
