import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

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

/** One process of the built app (`node dist/src/main.js`) with its RSS sampled. */
export class AppProcess {
  peakRss = 0;
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
    this.timer = setInterval(() => this.rss(), 250);
    this.timer.unref();
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Current RSS in bytes (also updates the peak). */
  rss(): number {
    const r = rssOf(this.pid);
    if (r > this.peakRss) this.peakRss = r;
    return r;
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
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(killer);
    return code;
  }
}

/** Processes spawned per name, so that a second env's profiles do not overwrite the first's. */
const spawned = new Map<string, number>();

export async function spawnApp(name: string, env: Record<string, string>): Promise<AppProcess> {
  // BENCH_PROFILE_DIR=<dir>: each app process writes a V8 CPU profile there when it exits
  // (`worker.cpuprofile`, then `worker-2.cpuprofile` for the next env's, e.g. (w)'s).
  const n = (spawned.get(name) ?? 0) + 1;
  spawned.set(name, n);
  const profile = process.env.BENCH_PROFILE_DIR
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`,
        `--cpu-prof-name=${n === 1 ? name : `${name}-${n}`}.cpuprofile`,
      ]
    : [];
  const child = spawn(process.execPath, [...profile, MAIN], {
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
