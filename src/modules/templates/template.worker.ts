import { constants as osConstants, setPriority } from 'node:os';
import { isMainThread, type MessagePort } from 'node:worker_threads';
import {
  assertCostWithin,
  assertProfileWithin,
  estimateCost,
  measureVariables,
  prescan,
  TemplateField,
  TemplateLimitError,
  TemplateLimitName,
  TemplateLimits,
  TemplateProfile,
} from 'src/modules/templates/template-limits';
import {
  RenderedTemplate,
  TemplateCompileError,
  TemplateRenderer,
  TemplateRenderError,
  TemplateSource,
} from 'src/modules/templates/template-renderer';

/**
 * One compile check or render, bounded by the TEMPLATE_* limits (README "Security"). Runs in a
 * template worker thread (template-pool.ts), or on the event loop for templates small enough
 * that their cost is bounded in advance (`inline`). Never throws: errors are plain objects,
 * which survive the trip between threads.
 */
export type TemplateTask =
  | {
      kind: 'analyze';
      src: TemplateSource;
      limits: TemplateLimits;
      /** Told the start time as the task starts (the pool's hard timeout counts from it). */
      started?: MessagePort;
    }
  | {
      kind: 'render';
      src: TemplateSource;
      cacheKey: string;
      vars: Record<string, unknown>;
      limits: TemplateLimits;
      /** Render here only within these bounds, else answer `offload`. */
      inline?: { maxSteps: number; maxOutputChars: number };
      started?: MessagePort;
    };

export type TemplateTaskError =
  | {
      kind: 'compile';
      message: string;
      field: TemplateField;
      line: number | null;
      column: number | null;
    }
  | {
      kind: 'limit';
      message: string;
      limit: TemplateLimitName;
      field: TemplateField | null;
      max: number | null;
      actual: number | null;
    }
  | { kind: 'render'; message: string; field: TemplateField | null }
  | { kind: 'offload' };

export type TemplateTaskResult =
  | { ok: true; profile: TemplateProfile; rendered: RenderedTemplate | null }
  | { ok: false; error: TemplateTaskError };

const FIELDS: readonly TemplateField[] = ['subject', 'html', 'text'];

/** Each thread (and the event loop) keeps its own compiled templates. */
const renderer = new TemplateRenderer({ cacheSize: 200 });

export function runTemplateTask(task: TemplateTask): TemplateTaskResult {
  const startedAt = Date.now();
  if (task.started) {
    task.started.postMessage(startedAt);
    task.started.close();
  }
  try {
    prescan(task.src, task.limits);
    if (task.kind === 'analyze') {
      const profile = renderer.analyze(task.src);
      assertProfile(profile, task.limits);
      return { ok: true, profile, rendered: null };
    }
    const compiled = renderer.compile(task.src, task.cacheKey);
    assertProfile(compiled.profile, task.limits);
    const stats = measureVariables([task.vars]);
    assertCostWithin(compiled.profile, stats, task.limits);
    if (task.inline) {
      for (const field of FIELDS) {
        const p = compiled.profile[field];
        if (!p) continue;
        const cost = estimateCost(field, p, stats);
        if (cost.steps > task.inline.maxSteps || cost.outputChars > task.inline.maxOutputChars) {
          return { ok: false, error: { kind: 'offload' } };
        }
      }
    }
    const rendered = compiled.render(task.vars, {
      deadline: startedAt + task.limits.timeoutMs,
      // The estimate counts evaluations; the guard counts helper calls and passes, which a
      // nested built-in (each → blockHelperMissing) may count twice.
      maxSteps: 2 * task.limits.maxRenderSteps + 1000,
      maxOutputBytes: task.limits.maxOutputBytes,
    });
    return { ok: true, profile: compiled.profile, rendered };
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  }
}

export default runTemplateTask;

/**
 * A pool thread runs the costly templates (README "Security": template limits), so it yields
 * the CPU to the event loops: on Linux a thread's nice value is its own, and a lower priority
 * makes a hostile template wait for spare cycles instead of slowing the API or other
 * deliveries. Not the lowest: a legitimate large template must still finish within its
 * wall-clock budget on a busy machine (nice 10 keeps about a tenth of a contended core).
 */
if (!isMainThread) {
  try {
    setPriority(osConstants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // Not permitted on this platform: the thread keeps the process's priority.
  }
}

function assertProfile(profile: TemplateProfile, limits: TemplateLimits): void {
  for (const field of FIELDS) {
    const p = profile[field];
    if (p) assertProfileWithin(field, p, limits);
  }
}

function toTaskError(error: unknown): TemplateTaskError {
  if (error instanceof TemplateLimitError) {
    const { message, limit, field, max, actual } = error;
    return { kind: 'limit', message, limit, field, max, actual };
  }
  if (error instanceof TemplateCompileError) {
    const { message, field, line, column } = error;
    return { kind: 'compile', message, field, line, column };
  }
  if (error instanceof TemplateRenderError) {
    return { kind: 'render', message: error.message, field: error.field ?? null };
  }
  // Anything else a template can provoke (a stack overflow, …) fails that template only.
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'render', message, field: null };
}
