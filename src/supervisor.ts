import cluster from 'node:cluster';
import { setPriority } from 'node:os';
import { AppConfig } from 'src/config/app-config';
import { relayPeerMetrics } from 'src/infra/metrics/peer-metrics';

/**
 * The default start (README "Processes, roles and scaling out"; docs/ARCHITECTURE.md
 * "Processes and roles"): API process(es) and one worker process forked from one supervisor, which
 * restarts a crashed child and stops them all on SIGTERM/SIGINT.
 */

/** One child the supervisor keeps running. */
export interface ChildSpec {
  /** In log lines: `api`, `api 2`, `worker`. */
  readonly name: string;
  /** Its APP_ROLES. */
  readonly roles: string;
  /** Niceness (os.setPriority); 0 leaves the supervisor's. */
  readonly nice: number;
}

export interface ChildHandle {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
}

/** Starts one child; `onExit` is called once, when it has exited. */
export type ForkChild = (
  spec: ChildSpec,
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
) => ChildHandle;

export interface SupervisorTimers {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export interface RestartPolicy {
  /** Delay before the first restart; doubles with each crash in the window. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** This many crashes of one child within `windowMs` stop everything with exit code 1. */
  readonly maxCrashes: number;
  readonly windowMs: number;
}

export const RESTART_POLICY: RestartPolicy = {
  firstDelayMs: 500,
  maxDelayMs: 15_000,
  maxCrashes: 5,
  windowMs: 60_000,
};

/** Delivery yields the CPU to the API on a shared machine (README "Processes, roles and scaling out"). */
export const WORKER_NICE = 10;

/** The children of the default start: `apiProcesses` × `api`, one `worker,scheduler`. */
export function defaultTopology(apiProcesses: number): ChildSpec[] {
  const apis = Array.from({ length: apiProcesses }, (_, i) => ({
    name: apiProcesses === 1 ? 'api' : `api ${i + 1}`,
    roles: 'api',
    nice: 0,
  }));
  return [...apis, { name: 'worker', roles: 'worker,scheduler', nice: WORKER_NICE }];
}

export interface SupervisorOptions {
  specs: ChildSpec[];
  fork: ForkChild;
  timers: SupervisorTimers;
  /** `problem`: a crash, a forced kill, giving up (stderr), rather than progress (stdout). */
  log: (line: string, problem?: boolean) => void;
  /** The children's own SHUTDOWN_TIMEOUT_MS; a child still running a second later is killed. */
  shutdownTimeoutMs: number;
  policy?: RestartPolicy;
}

/** Grace past SHUTDOWN_TIMEOUT_MS, so that a child's own timeout fires first. */
const KILL_GRACE_MS = 1000;

export class Supervisor {
  /** Resolves with the exit code once every child has exited after `stop`. */
  readonly done: Promise<number>;
  private readonly running = new Map<ChildSpec, ChildHandle>();
  private readonly crashes = new Map<ChildSpec, number[]>();
  private readonly restarts = new Map<ChildSpec, { cancel(): void }>();
  private readonly policy: RestartPolicy;
  private stopping = false;
  private exitCode = 0;
  private killTimer?: { cancel(): void };
  private finish!: (code: number) => void;

  constructor(private readonly opts: SupervisorOptions) {
    this.policy = opts.policy ?? RESTART_POLICY;
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  start(): void {
    for (const spec of this.opts.specs) this.launch(spec);
  }

  /** SIGTERM to every child; SIGKILL to those still running past the shutdown timeout. */
  stop(reason: string, exitCode = 0): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = exitCode;
    this.opts.log(`${reason}; stopping ${this.running.size} child process(es)`);
    for (const restart of this.restarts.values()) restart.cancel();
    this.restarts.clear();
    for (const child of this.running.values()) child.kill('SIGTERM');
    if (this.running.size === 0) {
      this.finish(this.exitCode);
      return;
    }
    this.killTimer = this.opts.timers.setTimeout(() => {
      for (const [spec, child] of this.running) {
        this.opts.log(`${spec.name} process (pid ${child.pid}) still running; killing it`, true);
        child.kill('SIGKILL');
      }
      this.exitCode = 1;
    }, this.opts.shutdownTimeoutMs + KILL_GRACE_MS);
  }

  private launch(spec: ChildSpec): void {
    const child = this.opts.fork(spec, (code, signal) => this.exited(spec, child, code, signal));
    this.running.set(spec, child);
    const nice = spec.nice ? `, nice ${spec.nice}` : '';
    this.opts.log(`started ${spec.name} process (pid ${child.pid}, roles ${spec.roles}${nice})`);
  }

  private exited(
    spec: ChildSpec,
    child: ChildHandle,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    this.running.delete(spec);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.stopping) {
      // Exit 0 after its own graceful stop, or killed by our SIGTERM before it installed one.
      if (code !== 0 && signal !== 'SIGTERM') {
        this.opts.log(`${spec.name} process (pid ${child.pid}) exited with ${how}`, true);
        this.exitCode = 1;
      }
      if (this.running.size === 0) {
        this.killTimer?.cancel();
        this.finish(this.exitCode);
      }
      return;
    }
    const now = this.opts.timers.now();
    const recent = (this.crashes.get(spec) ?? []).filter((t) => now - t < this.policy.windowMs);
    recent.push(now);
    this.crashes.set(spec, recent);
    if (recent.length >= this.policy.maxCrashes) {
      this.opts.log(
        `${spec.name} process exited ${recent.length} times within ${this.policy.windowMs / 1000} s ` +
          `(last: pid ${child.pid}, ${how}); giving up`,
        true,
      );
      this.stop('crash loop', 1);
      return;
    }
    const delay = Math.min(
      this.policy.maxDelayMs,
      this.policy.firstDelayMs * 2 ** (recent.length - 1),
    );
    this.opts.log(
      `${spec.name} process (pid ${child.pid}) exited with ${how}; restarting in ${delay} ms`,
      true,
    );
    this.restarts.set(
      spec,
      this.opts.timers.setTimeout(() => {
        this.restarts.delete(spec);
        this.launch(spec);
      }, delay),
    );
  }
}

/**
 * Children through node:cluster, so that several API processes share one port. With one API
 * process the port's socket is handed to it (SCHED_NONE) and connections never pass through
 * the supervisor; with several, the supervisor spreads them round-robin. A child exits when
 * the supervisor's IPC channel closes (node:cluster's worker, on an unexpected disconnect),
 * so none lingers after the supervisor died.
 */
export function clusterFork(
  env: Record<string, string>,
  log: (line: string, problem?: boolean) => void,
): ForkChild {
  return (spec, onExit) => {
    const worker = cluster.fork({ ...env, APP_ROLES: spec.roles });
    const pid = worker.process.pid;
    worker.once('exit', (code, signal) => onExit(code, signal as NodeJS.Signals | null));
    if (spec.nice && pid !== undefined) {
      try {
        // Linux: the main thread and the threads it starts later (libuv, template workers).
        setPriority(pid, spec.nice);
      } catch (err) {
        log(
          `could not lower the priority of the ${spec.name} process ` +
            `(${(err as NodeJS.ErrnoException).code ?? String(err)}); it runs at normal priority`,
          true,
        );
      }
    }
    return { pid, kill: (signal) => worker.process.kill(signal) };
  };
}

const realTimers: SupervisorTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Runs the default start in this (primary) process, after `prepareInfrastructure`. Resolves
 * with the exit code once the children have stopped.
 */
export async function superviseDefaultStart(config: AppConfig): Promise<number> {
  const log = (line: string, problem = false): void =>
    void (problem ? process.stderr : process.stdout).write(`email-sender: ${line}\n`);
  cluster.schedulingPolicy = config.apiProcesses > 1 ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const env: Record<string, string> = { APP_SUPERVISOR_PID: String(process.pid) };
  // One random per-boot secret for all children: links signed by the worker verify in the API.
  if (config.tracking.secretIsEphemeral) env.TRACKING_SECRET = config.tracking.secret;
  const specs = defaultTopology(config.apiProcesses);
  const supervisor = new Supervisor({
    specs,
    fork: clusterFork(env, log),
    timers: realTimers,
    log,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  });
  log(
    `supervising ${config.apiProcesses} api + 1 worker process (pid ${process.pid}; ` +
      'APP_PROCESSES=single runs every role in one process)',
  );
  relayPeerMetrics();
  const stop = (signal: NodeJS.Signals): void => supervisor.stop(`${signal} received`);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  supervisor.start();
  const code = await supervisor.done;
  log(`every child process has exited; exiting with code ${code}`);
  return code;
}
