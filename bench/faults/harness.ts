import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
  WriteStream,
} from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { Client } from 'pg';
import { Agent, request } from 'undici';
import { freePort } from 'bench/lib/app-process';
import { round, sleep } from 'bench/lib/stats';
import type { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';

/**
 * The fault scenarios and the soak run the built app (`dist/src/main.js`) as separate
 * processes, one per role, against a FakePostal in this process and servers on loopback.
 * Everything started here is registered for clean-up, which runs even when a scenario fails.
 */

export const ROOT = join(__dirname, '..', '..');
/** The checkout whose build (`dist/`) is run; FAULTS_APP_ROOT points at another one. */
export const APP_ROOT = process.env.FAULTS_APP_ROOT ?? ROOT;
const MAIN = join(APP_ROOT, 'dist', 'src', 'main.js');
const CLI = join(APP_ROOT, 'dist', 'src', 'cli', 'main.js');
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** The shared PostgreSQL the tests use (a database of our own is created and dropped there). */
export const SHARED_PG_URL =
  process.env.BENCH_PG_URL ??
  process.env.TEST_PG_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

export const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
};

const t0 = Date.now();
/** `faults [  12.3 s] a: …` lines, timed from the start of the run. */
export function logger(tag: string): (line: string) => void {
  return (line) => {
    const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
    process.stdout.write(`${tag} [${s} s] ${line}\n`);
  };
}

// ---------------------------------------------------------------------------------------------
// Clean-up

/** Processes and servers to kill synchronously if this process exits without cleaning up. */
const emergency = new Set<() => void>();
process.on('exit', () => {
  for (const fn of emergency) {
    try {
      fn();
    } catch {
      // Best effort on the way out.
    }
  }
});

/** Clean-up steps, run last-in first-out, each bounded, errors reported and not thrown. */
export class Cleanups {
  private readonly steps: Array<{ name: string; fn: () => Promise<unknown> }> = [];

  add(name: string, fn: () => Promise<unknown>): void {
    this.steps.push({ name, fn });
  }

  async run(log: (line: string) => void): Promise<void> {
    while (this.steps.length) {
      const { name, fn } = this.steps.pop()!;
      try {
        await withTimeout(fn(), 60_000, `clean-up "${name}"`);
      } catch (err) {
        log(`clean-up "${name}" failed: ${(err as Error).message}`);
      }
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

/** Polls `check` until true; throws naming `what` when `timeoutMs` passes first. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 200,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function runId(): string {
  return randomBytes(4).toString('hex');
}

/** A directory under /tmp for one run's process logs (kept for inspection). */
export function logDir(kind: string, id: string): string {
  const dir = join('/tmp', `email-sender-${kind}-${id}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Servers of our own

/**
 * A redis-server of our own on a free loopback port, without persistence: restarted, it
 * comes back empty, as after a crash. The shared Redis on 6379 is never touched.
 */
export class PrivateRedis {
  port = 0;
  private child?: ChildProcess;
  private killer?: () => void;

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1'],
        ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.killer = () => child.kill('SIGKILL');
    emergency.add(this.killer);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start: ${out.slice(-500)}`)),
        10_000,
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`));
      });
    });
    child.stdout!.resume();
    this.child = child;
    return this;
  }

  /** Stops it (SIGKILL by default: a crash). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    if (this.killer) emergency.delete(this.killer);
  }
}

/**
 * A PostgreSQL cluster of our own: `initdb` into a temporary directory as the postgres user,
 * served on a free loopback port with its socket in that directory. Restarting it never
 * disturbs the shared server on 5432.
 */
export class PrivatePostgres {
  port = 0;
  dir = '';
  running = false;
  private killer?: () => void;

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private pgCtl(args: string[], timeoutMs = 90_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'runuser',
        ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', this.dataDir, ...args],
        { timeout: timeoutMs },
        (err, stdout, stderr) =>
          err
            ? reject(new Error(`pg_ctl ${args.join(' ')}: ${stderr || err.message}`))
            : resolve(stdout),
      );
    });
  }

  async init(): Promise<this> {
    this.port = await freePort();
    this.dir = mkdtempSync('/tmp/email-sender-pg-');
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(this.dir, uid, gid);
    await new Promise<void>((resolve, reject) => {
      execFile(
        'runuser',
        [
          ...['-u', 'postgres', '--', join(PG_BIN, 'initdb')],
          ...['-D', this.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'],
        ],
        { timeout: 120_000 },
        (err, _out, stderr) =>
          err ? reject(new Error(`initdb: ${stderr || err.message}`)) : resolve(),
      );
    });
    this.killer = () => {
      execFileSync('runuser', [
        ...['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', this.dataDir],
        ...['-m', 'immediate', 'stop'],
      ]);
    };
    return this;
  }

  async start(): Promise<void> {
    const opts = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c max_connections=200',
    ].join(' ');
    await this.pgCtl(['-l', join(this.dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start']);
    this.running = true;
    if (this.killer) emergency.add(this.killer);
  }

  /** `fast`: what an operator's restart does (sessions are terminated, then shutdown). */
  async stop(mode: 'fast' | 'immediate' | 'smart' = 'fast'): Promise<void> {
    if (!this.running) return;
    await this.pgCtl(['-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
    if (this.killer) emergency.delete(this.killer);
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function withPg<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function databaseUrl(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withPg(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

// ---------------------------------------------------------------------------------------------
// App processes

export interface AppProcessOptions {
  name: string;
  env: Record<string, string>;
  logDir: string;
  /** Every stdout/stderr line, e.g. to read the app's JSON logs. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** One `node dist/src/main.js` process (its roles come from APP_ROLES in `env`). */
export class AppProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly tail: string[] = [];
  private readonly log: WriteStream;
  private readonly killer: () => void;
  private ready = false;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    logFile: string,
    onLine?: AppProcessOptions['onLine'],
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.killer = () => child.kill('SIGKILL');
    emergency.add(this.killer);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        emergency.delete(this.killer);
        resolve({ code, signal });
      });
    });
    // After 'exit', once the last output is read.
    child.once('close', () => this.log.end());
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      child[stream]!.on('data', (d: Buffer) => {
        this.log.write(d);
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          this.tail.push(line);
          if (this.tail.length > 40) this.tail.shift();
          if (/^email-sender: (serving|running roles)/.test(line)) this.ready = true;
          onLine?.(line, stream);
        }
      });
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and resolves once it serves HTTP / runs its workers. */
  static async start(opts: AppProcessOptions, readyTimeoutMs = 120_000): Promise<AppProcess> {
    const child = spawn(process.execPath, [MAIN], {
      cwd: APP_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = new AppProcess(opts.name, child, join(opts.logDir, `${opts.name}.log`), opts.onLine);
    const started = Date.now();
    for (;;) {
      if (p.ready) return p;
      if (!p.alive) {
        throw new Error(`${opts.name} exited before it was ready:\n${p.lastLines()}`);
      }
      if (Date.now() - started > readyTimeoutMs) {
        p.child.kill('SIGKILL');
        throw new Error(`${opts.name} not ready within ${readyTimeoutMs} ms:\n${p.lastLines()}`);
      }
      await sleep(50);
    }
  }

  lastLines(n = 20): string {
    return this.tail.slice(-n).join('\n');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.alive) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Resident set size (VmRSS) in MiB, from /proc; null once the process is gone. */
  rssMiB(): number | null {
    return rssMiB(this.pid);
  }
}

export function rssMiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    return Number.isFinite(kb) ? round(kb / 1024, 1) : null;
  } catch {
    return null;
  }
}

/**
 * Open TCP connections of one process to each of `ports` (remote side), from its socket
 * inodes in /proc/<pid>/fd and the kernel's tables in /proc/<pid>/net/tcp{,6}.
 */
export function tcpConnectionsTo(pid: number, ports: number[]): Record<number, number> {
  const counts: Record<number, number> = Object.fromEntries(ports.map((p) => [p, 0]));
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // The descriptor closed meanwhile.
      }
    }
    for (const table of ['tcp', 'tcp6']) {
      let text = '';
      try {
        text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10 || cols[3] !== '01' || !inodes.has(cols[9])) continue; // 01: ESTABLISHED
        const remotePort = parseInt(cols[2].split(':')[1], 16);
        if (remotePort in counts) counts[remotePort] += 1;
      }
    }
  } catch {
    // The process is gone.
  }
  return counts;
}

/** Creates an API key with the operator CLI (which also creates and migrates the database). */
export function createApiKey(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, 'api-keys:create', '--name', 'faults-and-soak', '--scope', 'full'],
      {
        cwd: APP_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, LOG_LEVEL: 'error' },
        timeout: 120_000,
      },
      (err, stdout, stderr) => {
        const key = /esk_[0-9A-Za-z]{40}/.exec(stdout)?.[0];
        if (err || !key) reject(new Error(`api-keys:create failed: ${stderr || stdout}`));
        else resolve(key);
      },
    );
  });
}

export interface TopologyOptions {
  id: string;
  databaseUrl: string;
  redisUrl: string;
  postal: FakePostal;
  /** PEM of Postal's webhook signing key (public half). */
  webhookPublicKeyPem?: string;
  logDir: string;
  /** Extra environment for every process (e.g. WORKER_CONCURRENCY). */
  env?: Record<string, string>;
  onLine?: (process: string, line: string) => void;
}

/**
 * The app as operators run it at scale: an `api` process, `worker` process(es) and one
 * `scheduler`, each `node dist/src/main.js` with its APP_ROLES, on one PostgreSQL and Redis.
 */
export class Topology {
  readonly processes = new Map<string, AppProcess>();
  apiUrl = '';
  apiKey = '';
  readonly prefix: string;
  private port = 0;
  private workerSeq = 0;

  constructor(private readonly o: TopologyOptions) {
    this.prefix = `faults-${o.id}`;
  }

  /** The environment every process shares (README "Configuration" names). */
  env(): Record<string, string> {
    return {
      NODE_ENV: 'development',
      DATABASE_URL: this.o.databaseUrl,
      REDIS_URL: this.o.redisUrl,
      REDIS_KEY_PREFIX: this.prefix,
      LOG_LEVEL: 'warn',
      MAIL_TRANSPORT: 'postal',
      POSTAL_URL: this.o.postal.url,
      POSTAL_API_KEY: this.o.postal.apiKey,
      ...(this.o.webhookPublicKeyPem
        ? { POSTAL_WEBHOOK_PUBLIC_KEY: this.o.webhookPublicKeyPem }
        : {}),
      // The same secret in every process: the worker signs the links the API verifies.
      TRACKING_SECRET: `faults-tracking-secret-${this.o.id}-0123456789abcdef`,
      PUBLIC_URL: this.apiUrl,
      PORT: String(this.port),
      DEFAULT_FROM: 'Faults <faults@sender.example>',
      // Out of the way: these scenarios are about faults, not about limits.
      DOMAIN_RATE_DEFAULT: '100000',
      RATE_LIMIT_IP_PER_MIN: '100000000',
      RATE_LIMIT_KEY_PER_MIN: '100000000',
      RATE_LIMIT_BATCH_PER_MIN: '100000',
      ...this.o.env,
    };
  }

  /** Creates the key (and database), then starts api, scheduler and `workers` workers. */
  async start(workers = 1): Promise<void> {
    this.port = await freePort();
    this.apiUrl = `http://127.0.0.1:${this.port}`;
    this.apiKey = await createApiKey(this.env());
    await this.startProcess('api', 'api');
    await Promise.all([
      this.startProcess('scheduler', 'scheduler'),
      ...Array.from({ length: workers }, () => this.startWorker()),
    ]);
  }

  startWorker(env: Record<string, string> = {}): Promise<AppProcess> {
    this.workerSeq += 1;
    return this.startProcess(`worker-${this.workerSeq}`, 'worker', env);
  }

  async startProcess(
    name: string,
    roles: string,
    env: Record<string, string> = {},
  ): Promise<AppProcess> {
    const p = await AppProcess.start({
      name,
      env: { ...this.env(), APP_ROLES: roles, ...env },
      logDir: this.o.logDir,
      onLine: this.o.onLine ? (line) => this.o.onLine!(name, line) : undefined,
    });
    this.processes.set(name, p);
    return p;
  }

  get(name: string): AppProcess {
    const p = this.processes.get(name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /** SIGTERM to every live process (SIGKILL after the grace period). */
  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  /** 0: no HTTP answer (connection error). */
  status: number;
  ms: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
  error?: string;
}

/** A keep-alive HTTP client for the app under test, timing every request. */
export class ApiClient {
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });

  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  async call(
    method: 'GET' | 'POST',
    path: string,
    opts: { json?: unknown; body?: string; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<HttpResult> {
    const started = performance.now();
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.auth !== false) headers.authorization = `Bearer ${this.key}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    try {
      const res = await request(`${this.baseUrl}${path}`, {
        method,
        dispatcher: this.agent,
        headers,
        body,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      if (String(res.headers['content-type'] ?? '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          // Keep the text.
        }
      }
      return {
        status: res.statusCode,
        ms: performance.now() - started,
        body: parsed,
        headers: res.headers,
      };
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).name;
      return { status: 0, ms: performance.now() - started, body: null, headers: {}, error: code };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * What left for Postal, by message id (the `X-Email-Id` header every outgoing message
 * carries), against what the API accepted.
 */
export class DeliveryLedger {
  readonly accepted = new Set<string>();
  readonly receipts = new Map<string, number>();
  readonly firstReceiptAt = new Map<string, number>();
  lastReceiptAt = 0;

  /** Pass as FakePostal's `onAccepted`. */
  readonly onPostal = (m: ReceivedMessage): void => {
    const id = m.body.headers?.['X-Email-Id'];
    if (!id) return;
    this.receipts.set(id, (this.receipts.get(id) ?? 0) + 1);
    if (!this.firstReceiptAt.has(id)) this.firstReceiptAt.set(id, m.receivedAt);
    this.lastReceiptAt = m.receivedAt;
  };

  accept(id: string): void {
    this.accepted.add(id);
  }

  /** Accepted messages Postal has at least once. */
  deliveredCount(): number {
    let n = 0;
    for (const id of this.accepted) if (this.receipts.has(id)) n += 1;
    return n;
  }

  allDelivered(): boolean {
    return this.deliveredCount() === this.accepted.size;
  }

  summary(): LedgerSummary {
    const missing: string[] = [];
    for (const id of this.accepted) if (!this.receipts.has(id)) missing.push(id);
    const duplicated: Array<{ id: string; receipts: number }> = [];
    const unexpected: string[] = [];
    let extraSends = 0;
    for (const [id, n] of this.receipts) {
      if (n > 1) {
        duplicated.push({ id, receipts: n });
        extraSends += n - 1;
      }
      if (!this.accepted.has(id)) unexpected.push(id);
    }
    return {
      accepted: this.accepted.size,
      delivered: this.accepted.size - missing.length,
      missing,
      duplicated,
      extraSends,
      unexpected,
    };
  }
}

export interface LedgerSummary {
  accepted: number;
  delivered: number;
  missing: string[];
  duplicated: Array<{ id: string; receipts: number }>;
  /** Receipts beyond the first, over all messages. */
  extraSends: number;
  /** Sent although the API never answered 202 for them. */
  unexpected: string[];
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return round(s[idx], 1);
}

export function latencySummary(values: number[]): {
  n: number;
  p50: number;
  p99: number;
  max: number;
} {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: round(values.length ? Math.max(...values) : 0, 1),
  };
}

/** Least-squares slope of y over x. */
export function slope(points: Array<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num2 = 0;
  let den = 0;
  for (const p of points) {
    num2 += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num2 / den;
}

export interface Outcome {
  at: number;
  status: number;
  ms: number;
  error?: string;
  code?: string;
}

/**
 * Calls `fn` at a steady `ratePerSec` (catching up after a slow tick, never more than
 * `maxInFlight` at once) until stopped, and records every outcome.
 */
export class SteadyLoad {
  readonly outcomes: Outcome[] = [];
  skipped = 0;
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();
  private issued = 0;
  private started = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly fn: (i: number) => Promise<HttpResult>,
    private readonly maxInFlight = 200,
  ) {}

  start(): this {
    this.started = Date.now();
    this.timer = setInterval(() => this.tick(), 20);
    return this;
  }

  private tick(): void {
    const due = Math.floor(((Date.now() - this.started) / 1000) * this.ratePerSec);
    while (this.issued < due) {
      const i = this.issued++;
      if (this.inFlight.size >= this.maxInFlight) {
        this.skipped += 1;
        continue;
      }
      const at = Date.now();
      const p = this.fn(i).then(
        (r) => {
          const code = typeof r.body === 'object' && r.body ? r.body?.error?.code : undefined;
          this.outcomes.push({ at, status: r.status, ms: r.ms, error: r.error, code });
        },
        (err: unknown) => {
          this.outcomes.push({ at, status: 0, ms: Date.now() - at, error: String(err) });
        },
      );
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }
}

export function countBy<T>(items: T[], key: (t: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const it of items) {
    const k = String(key(it));
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** BullMQ counts of the app's queues, read from outside. */
export class QueueWatch {
  private readonly queues: Queue[];

  constructor(redisUrl: string, prefix: string, names: string[]) {
    const u = new URL(redisUrl);
    const connection = {
      host: u.hostname,
      port: Number(u.port || 6379),
      maxRetriesPerRequest: null,
      enableOfflineQueue: false,
      connectionName: 'faults-observer',
      retryStrategy: (times: number) => Math.min(times * 250, 2000),
    };
    this.queues = names.map((name) => {
      const q = new Queue(name, { connection, prefix: `${prefix}:bull` });
      q.on('error', () => undefined);
      return q;
    });
  }

  /** waiting + active + delayed (+ prioritized) per queue; null when Redis does not answer. */
  async pending(): Promise<Record<string, number> | null> {
    try {
      const out: Record<string, number> = {};
      for (const q of this.queues) {
        const c = await withTimeout(
          q.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
          3000,
          'getJobCounts',
        );
        out[q.name] = Object.values(c).reduce((a, b) => a + b, 0);
      }
      return out;
    } catch {
      return null;
    }
  }

  async counts(name: string): Promise<Record<string, number>> {
    const q = this.queues.find((x) => x.name === name)!;
    return q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
  }
}

/** Counts of email_logs by status, from the app's database. */
export async function statusCounts(dbUrl: string): Promise<Record<string, number>> {
  return withPg(dbUrl, async (c) => {
    const { rows } = await c.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM email_logs GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  });
}

export async function query<T extends Record<string, any>>(
  dbUrl: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return withPg(dbUrl, async (c) => (await c.query<T>(sql, params)).rows);
}

/** A Redis client for observing (CLIENT LIST and the like), named so it can be left out. */
export function observerRedis(url: string): Redis {
  const r = new Redis(url, {
    connectionName: 'faults-observer',
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(times * 250, 2000),
  });
  r.on('error', () => undefined);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Verdicts

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export class Checks {
  readonly list: Check[] = [];

  check(name: string, pass: boolean, detail: string): boolean {
    this.list.push({ name, pass, detail });
    return pass;
  }

  get ok(): boolean {
    return this.list.every((c) => c.pass);
  }
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  durationS: number;
  figures: Record<string, unknown>;
  checks: Check[];
  logDir: string;
  error?: string;
}

export function formatChecks(checks: Check[]): string {
  const w = Math.max(...checks.map((c) => c.name.length), 9);
  return checks
    .map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(w)}  ${c.detail}`)
    .join('\n');
}

/** Writes a run's JSON under bench/results/ (git-ignored) as `<kind>-<time>.json` and `<kind>-latest.json`. */
export function writeResults(kind: string, report: unknown): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${kind}-${stamp}.json`);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(dir, `${kind}-latest.json`), json);
  return file;
}
