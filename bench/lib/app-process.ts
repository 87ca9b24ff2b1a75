import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';

const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

/** A free TCP port on loopback (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process, from /proc (Linux). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of every descendant of `pid` (children of each of its threads, recursively). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone meanwhile
    }
    for (const tid of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ').filter(Boolean).map(Number)) {
        out.push(c);
        visit(c);
      }
    }
  };
  visit(pid);
  return out;
}

/** How a descendant of the app calls itself: its APP_ROLES, else its script's name. */
function labelOf(pid: number): string {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const roles = environ.find((v) => v.startsWith('APP_ROLES='));
    if (roles) return roles.slice('APP_ROLES='.length);
  } catch {
    // not readable: fall back to the command line
  }
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return basename(argv.find((a, i) => i > 0 && !a.startsWith('-')) ?? argv[0] ?? '?');
  } catch {
    return '?';
  }
}

/** One process of a tree: what it is, its RSS now and the peak sampled. */
export interface ProcessRss {
  pid: number;
  /** `<name>` for the spawned process, `<name>/<APP_ROLES or script> (pid)` for a descendant. */
  label: string;
  rssBytes: number;
  peakBytes: number;
}

/** One process of the built app (`node dist/src/main.js`) with its RSS sampled. */
export class AppProcess {
  /** The spawned process's own peak RSS (bytes). */
  peakRss = 0;
  /** Every process of its tree seen so far (a supervisor's children included), by pid. */
  private readonly peaks = new Map<number, { label: string; peak: number }>();
  private output = '';
  private timer: NodeJS.Timeout;
  private exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.timer = setInterval(() => this.tree(), 250);
    this.timer.unref();
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Current RSS in bytes of the spawned process alone (also samples the whole tree). */
  rss(): number {
    return this.tree()[0]?.rssBytes ?? 0;
  }

  /**
   * The spawned process and its descendants now (the spawned one first), each with its peak;
   * a process that exited since keeps its last figures with `rssBytes` 0.
   */
  tree(): ProcessRss[] {
    const live =
      this.pid && this.child.exitCode === null ? [this.pid, ...descendantsOf(this.pid)] : [];
    const now = new Map<number, number>();
    for (const pid of live) {
      const r = rssOf(pid);
      now.set(pid, r);
      let entry = this.peaks.get(pid);
      if (!entry) {
        entry = {
          label: pid === this.pid ? this.name : `${this.name}/${labelOf(pid)} (${pid})`,
          peak: 0,
        };
        this.peaks.set(pid, entry);
      }
      if (r > entry.peak) entry.peak = r;
    }
    const own = now.get(this.pid) ?? 0;
    if (own > this.peakRss) this.peakRss = own;
    return [...this.peaks].map(([pid, e]) => ({
      pid,
      label: e.label,
      rssBytes: now.get(pid) ?? 0,
      peakBytes: e.peak,
    }));
  }

  /** The last lines it printed (for errors). */
  tail(): string {
    return this.output.split('\n').slice(-30).join('\n');
  }

  async waitForHttp(url: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.child.exitCode !== null) {
        throw new Error(`${this.name} exited with ${this.child.exitCode}:\n${this.tail()}`);
      }
      try {
        const res = await fetch(url);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not ready:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit code. */
  async stop(ms = 15_000): Promise<number | null> {
    clearInterval(this.timer);
    if (this.child.exitCode !== null) return this.child.exitCode;
    const family = descendantsOf(this.pid);
    this.child.kill('SIGTERM');
    let killed = false;
    const killer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, ms);
    const code = await this.exited;
    clearTimeout(killer);
    // A supervisor killed before it stopped its children leaves them behind: not ours to keep.
    for (const pid of killed ? descendantsOf(this.pid).concat(family) : []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    return code;
  }
}

export async function spawnApp(name: string, env: Record<string, string>): Promise<AppProcess> {
  // BENCH_PROFILE_DIR=<dir>: each app process writes a V8 CPU profile into <dir>/<name>/ when
  // it exits, named by node (CPU.<date>.<time>.<pid>…): processes a supervisor forks inherit
  // the flags and write their own file next to it.
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_PROFILE_DIR, name)}`]
    : [];
  // BENCH_NODE_FLAGS: more Node/V8 flags for the app (e.g. --trace-gc), inherited likewise.
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...profile, ...extra, MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new AppProcess(name, child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  return proc;
}
