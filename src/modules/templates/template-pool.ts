import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import Piscina from 'piscina';
import type { TemplateTask, TemplateTaskResult } from 'src/modules/templates/template.worker';

/** Past the cooperative deadline (checked by the render itself), a thread is terminated. */
const HARD_STOP_GRACE_MS = 250;
/** A task whose thread never even starts it (a thread that cannot boot) gives up after this. */
const START_TIMEOUT_MS = 30_000;

export interface TemplatePoolOptions {
  threads: number;
  memoryMb: number;
  timeoutMs: number;
  /** Tasks that may wait for a thread; more fail fast with TemplatePoolBusyError. */
  maxWaiting: number;
  /** A thread idle this long ends and gives its heap back (default 30 s). */
  idleTimeoutMs?: number;
}

const POOL_IDLE_TIMEOUT_MS = 30_000;

/** More template work queued than the pool takes: the caller should retry later. */

export class TemplatePoolBusyError extends Error {}

/**
 * Worker threads (piscina) that compile and render templates off the event loop (README
 * "Security": template limits), so a slow template costs its own message and never the API
 * or other deliveries. Each task gets the time budget from the moment its thread starts it; a
 * task over budget + grace is stopped by terminating its thread (piscina replaces it), and a
 * thread's heap is capped (`resourceLimits`), so neither time nor memory can run away.
 *
 * Threads start on first use and stay warm; `close()` ends them (app shutdown).
 */
export class TemplatePool {
  private pool: Piscina<TemplateTask, TemplateTaskResult> | null = null;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(private readonly opts: TemplatePoolOptions) {}

  /** Runs a task in a thread. Rejects with TemplatePoolBusyError when too much is queued. */
  async run(task: TemplateTask): Promise<TemplateTaskResult> {
    if (this.closed) throw new TemplatePoolBusyError('the template pool is closed');
    if (this.running >= this.opts.threads) {
      if (this.waiting.length >= this.opts.maxWaiting) {
        throw new TemplatePoolBusyError('too many templates are waiting to be rendered');
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running += 1;
    try {
      return await this.runNow(task);
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  /** Threads alive now (tests: a stopped render replaces its thread). */
  get threadIds(): number[] {
    return (this.pool?.threads ?? []).map((t) => t.threadId);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.destroy();
  }

  private async runNow(task: TemplateTask): Promise<TemplateTaskResult> {
    const pool = this.ensurePool();
    const abort = new AbortController();
    const { port1, port2 } = new MessageChannel();
    let stopTimer = setTimeout(() => abort.abort('start'), START_TIMEOUT_MS);
    port1.once('message', () => {
      clearTimeout(stopTimer);
      stopTimer = setTimeout(
        () => abort.abort('timeout'),
        this.opts.timeoutMs + HARD_STOP_GRACE_MS,
      );
    });
    try {
      return await pool.run({ ...task, started: port2 } as TemplateTask, {
        transferList: [port2],
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted && abort.signal.reason === 'timeout') {
        return limit(
          `the template took longer than ${this.opts.timeoutMs} ms (TEMPLATE_RENDER_TIMEOUT_MS)`,
          'TEMPLATE_RENDER_TIMEOUT_MS',
          this.opts.timeoutMs,
        );
      }
      if ((error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        return limit(
          `the template needed more than ${this.opts.memoryMb} MB (TEMPLATE_WORKER_MEMORY_MB)`,
          'TEMPLATE_WORKER_MEMORY_MB',
          this.opts.memoryMb,
        );
      }
      throw error;
    } finally {
      clearTimeout(stopTimer);
      port1.close();
    }
  }

  private ensurePool(): Piscina<TemplateTask, TemplateTaskResult> {
    if (this.pool) return this.pool;
    const { filename, execArgv } = workerEntry();
    this.pool = new Piscina<TemplateTask, TemplateTaskResult>({
      filename,
      execArgv,
      // Costly templates are rare: a thread that has been idle for a while ends and gives its
      // heap back (the next one starts in a few hundred ms; the time budget starts with the task).
      minThreads: 0,
      maxThreads: this.opts.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: this.opts.idleTimeoutMs ?? POOL_IDLE_TIMEOUT_MS,
      // run() admits a task only when a thread is free: piscina's own queue stays short.
      maxQueue: this.opts.threads * 2,
      resourceLimits: {
        maxOldGenerationSizeMb: this.opts.memoryMb,
        maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(this.opts.memoryMb / 8))),
        stackSizeMb: 4,
      },
      // Messages tell the worker what to do; Atomics.wait would block its event loop.
      atomics: 'disabled',
    });
    return this.pool;
  }
}

function limit(
  message: string,
  name: 'TEMPLATE_RENDER_TIMEOUT_MS' | 'TEMPLATE_WORKER_MEMORY_MB',
  max: number,
): TemplateTaskResult {
  return {
    ok: false,
    error: { kind: 'limit', message, limit: name, field: null, max, actual: null },
  };
}

/**
 * The worker script: the compiled template.worker.js next to this file in dist/; when running
 * from the TypeScript sources (Jest), the .ts file, loaded through the development-only
 * scripts/template-worker-ts-loader.js (it compiles TypeScript on load).
 */
function workerEntry(): { filename: string; execArgv: string[] } {
  const compiled = join(__dirname, 'template.worker.js');
  if (existsSync(compiled)) return { filename: compiled, execArgv: [] };
  const root = join(__dirname, '..', '..', '..');
  return {
    filename: join(__dirname, 'template.worker.ts'),
    execArgv: ['--require', join(root, 'scripts', 'template-worker-ts-loader.js')],
  };
}
