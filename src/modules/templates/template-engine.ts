import {
  assertCostWithin,
  measureVariables,
  prescan,
  TemplateLimitError,
  TemplateLimits,
  TemplateProfile,
  TemplateSourceLike,
} from 'src/modules/templates/template-limits';
import { TemplatePool } from 'src/modules/templates/template-pool';
import {
  RenderedTemplate,
  TemplateCompileError,
  TemplateRenderError,
  TemplateSource,
} from 'src/modules/templates/template-renderer';
import {
  runTemplateTask,
  TemplateTask,
  TemplateTaskResult,
} from 'src/modules/templates/template.worker';

/**
 * Templates at most this large are compiled on the event loop (a few milliseconds at most);
 * larger ones only in the pool. Most transactional templates are far below.
 */
const SMALL_TEMPLATE_CHARS = 64 * 1024;
const SMALL_TEMPLATE_MUSTACHES = 200;
/** A small template renders on the event loop when its estimated cost is within these. */
const INLINE_BOUNDS = { maxSteps: 10_000, maxOutputChars: 256 * 1024 };
const PROFILE_CACHE_SIZE = 2000;

/**
 * Decides where a template is compiled and rendered (README "Security": template limits):
 * sizes and `{{` counts are checked first on the event loop (one scan); templates small enough
 * to be provably cheap are compiled and rendered there (the hot path, with the same guard);
 * everything else goes to the worker-thread pool with its time budget and memory cap.
 */
export class TemplateEngine {
  /** Accept-time analyses by content key: the same content is compiled once per process. */
  private readonly profiles = new Map<string, TemplateProfile>();

  constructor(
    readonly limits: TemplateLimits,
    private readonly pool: TemplatePool,
  ) {}

  /**
   * Accept-time check: limits, compilation and, given the variables the message(s) will be
   * rendered with, the estimated cost. `keyOf` identifies the content (digest or
   * id:updated_at); it is asked only once the sizes and `{{` counts are within the limits, so
   * content refused by that scan is never hashed (an 880 KB field costs a scan, not a digest).
   * Throws TemplateLimitError, TemplateCompileError or TemplatePoolBusyError.
   */
  async check(
    src: TemplateSource,
    keyOf: () => string,
    variableSets?: ReadonlyArray<unknown>,
  ): Promise<TemplateProfile> {
    const mustaches = prescan(src, this.limits);
    const key = keyOf();
    let profile = this.profiles.get(key);
    if (profile) {
      this.profiles.delete(key);
    } else {
      const task: TemplateTask = { kind: 'analyze', src, limits: this.limits };
      const result = isSmall(src, mustaches) ? runTemplateTask(task) : await this.pool.run(task);
      profile = unwrap(result, 'compile').profile;
    }
    this.profiles.set(key, profile);
    if (this.profiles.size > PROFILE_CACHE_SIZE) {
      this.profiles.delete(this.profiles.keys().next().value as string);
    }
    if (variableSets) assertCostWithin(profile, measureVariables(variableSets), this.limits);
    return profile;
  }

  /**
   * Renders within the limits; `cacheKeyOf` names the content, asked after the scan as in
   * `check`. Throws TemplateRenderError (also for content that does not compile),
   * TemplateLimitError or TemplatePoolBusyError.
   */
  async render(
    src: TemplateSource,
    cacheKeyOf: () => string,
    vars: Record<string, unknown>,
  ): Promise<RenderedTemplate> {
    const mustaches = prescan(src, this.limits);
    const cacheKey = cacheKeyOf();
    const task: TemplateTask = { kind: 'render', src, cacheKey, vars, limits: this.limits };
    if (isSmall(src, mustaches)) {
      const result = runTemplateTask({ ...task, inline: INLINE_BOUNDS });
      if (result.ok || result.error.kind !== 'offload') return unwrap(result, 'render').rendered!;
    }
    return unwrap(await this.pool.run(task), 'render').rendered!;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function isSmall(src: TemplateSourceLike, mustaches: number): boolean {
  const chars = (src.subject?.length ?? 0) + (src.html?.length ?? 0) + (src.text?.length ?? 0);
  return chars <= SMALL_TEMPLATE_CHARS && mustaches <= SMALL_TEMPLATE_MUSTACHES;
}

/** A task's result, or its error as the error class the caller expects. */
function unwrap(
  result: TemplateTaskResult,
  compileAs: 'compile' | 'render',
): Extract<TemplateTaskResult, { ok: true }> {
  if (result.ok) return result;
  const e = result.error;
  switch (e.kind) {
    case 'limit':
      throw new TemplateLimitError(e.message, e.limit, e.field, e.max, e.actual);
    case 'compile':
      if (compileAs === 'compile') {
        throw new TemplateCompileError(e.message, e.field, e.line, e.column);
      }
      throw new TemplateRenderError(e.message, e.field);
    case 'render':
      throw new TemplateRenderError(e.message, e.field ?? undefined);
    default:
      throw new TemplateRenderError('the template could not be rendered');
  }
}
