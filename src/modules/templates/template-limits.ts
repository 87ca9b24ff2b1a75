import type { TemplateLimitsConfig } from 'src/config/app-config';

/**
 * Bounds on caller-supplied Handlebars (README "Security": template limits). A template is
 * code supplied by the caller: `{{#each}}` inside `{{#each}}` over the same list costs
 * length^depth, and a large template costs seconds to compile. Everything here is pure and
 * synchronous, so the same checks run on the event loop (for small templates) and in the
 * template worker threads (for everything else).
 */

export type TemplateField = 'subject' | 'html' | 'text';

export type TemplateLimits = Pick<
  TemplateLimitsConfig,
  | 'maxFieldBytes'
  | 'maxMustaches'
  | 'maxNesting'
  | 'maxRenderSteps'
  | 'maxOutputBytes'
  | 'timeoutMs'
>;

/** The environment variable (or rule) each limit is configured by; errors name it. */
export type TemplateLimitName =
  | 'TEMPLATE_MAX_FIELD_BYTES'
  | 'TEMPLATE_MAX_MUSTACHES'
  | 'TEMPLATE_MAX_NESTING'
  | 'TEMPLATE_MAX_RENDER_STEPS'
  | 'TEMPLATE_MAX_OUTPUT_BYTES'
  | 'TEMPLATE_RENDER_TIMEOUT_MS'
  | 'TEMPLATE_WORKER_MEMORY_MB'
  | 'inline_partials';

/** A template over one of the limits: 422 template_too_complex at accept, `failed` at delivery. */
export class TemplateLimitError extends Error {
  constructor(
    message: string,
    readonly limit: TemplateLimitName,
    readonly field: TemplateField | null,
    readonly max: number | null,
    readonly actual: number | null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** What rendering a template can cost, by loop depth (index 0: outside any loop). */
export interface FieldProfile {
  /** Deepest block nesting. */
  nesting: number;
  /** Evaluations (mustaches, blocks, sub-expressions, loop iterations) at each loop depth. */
  steps: number[];
  /** Literal text characters written at each loop depth. */
  text: number[];
  /** `{{#*inline}}` partials or other decorators: they expand without a static bound. */
  decorators: boolean;
}

export type TemplateProfile = Partial<Record<TemplateField, FieldProfile>>;

export interface TemplateSourceLike {
  subject?: string | null;
  html?: string | null;
  text?: string | null;
}

const FIELDS: readonly TemplateField[] = ['subject', 'html', 'text'];

/**
 * Size and `{{` count of every field, before any parsing (cheap: one scan, stops at the limit).
 * Returns the total number of `{{` seen. Throws TemplateLimitError.
 */
export function prescan(src: TemplateSourceLike, limits: TemplateLimits): number {
  let mustaches = 0;
  for (const field of FIELDS) {
    const source = src[field];
    if (!source) continue;
    // A UTF-16 length over the limit is a byte length over it too (no need to encode).
    const bytes =
      source.length > limits.maxFieldBytes ? source.length : Buffer.byteLength(source, 'utf8');
    if (bytes > limits.maxFieldBytes) {
      throw new TemplateLimitError(
        `${field} is larger than ${limits.maxFieldBytes} bytes (TEMPLATE_MAX_FIELD_BYTES)`,
        'TEMPLATE_MAX_FIELD_BYTES',
        field,
        limits.maxFieldBytes,
        bytes,
      );
    }
    let count = 0;
    for (let at = source.indexOf('{{'); at >= 0; at = source.indexOf('{{', at + 2)) {
      if (++count > limits.maxMustaches) {
        throw new TemplateLimitError(
          `${field} has more than ${limits.maxMustaches} mustaches (TEMPLATE_MAX_MUSTACHES)`,
          'TEMPLATE_MAX_MUSTACHES',
          field,
          limits.maxMustaches,
          null,
        );
      }
    }
    mustaches += count;
  }
  return mustaches;
}

/** Built-in block helpers that run their body at most once; every other block may loop. */
const ONCE_HELPERS = new Set(['if', 'unless', 'with']);

type Node = hbs.AST.Node;
type Expression = hbs.AST.Expression;

/** Walks a parsed field (Handlebars.parse) and records what rendering it can cost. */
export function profileOf(ast: hbs.AST.Program): FieldProfile {
  const profile: FieldProfile = { nesting: 0, steps: [], text: [], decorators: false };
  const add = (list: number[], depth: number, n: number): void => {
    while (list.length <= depth) list.push(0);
    list[depth] += n;
  };
  const expressionSteps = (e: Expression | undefined): number => {
    if (!e || e.type !== 'SubExpression') return 0;
    const sub = e as hbs.AST.SubExpression;
    let n = 1;
    for (const p of sub.params) n += expressionSteps(p);
    for (const pair of sub.hash?.pairs ?? []) n += expressionSteps(pair.value);
    return n;
  };
  const callSteps = (node: {
    params?: Expression[];
    hash?: hbs.AST.Hash;
    path?: Expression | hbs.AST.PathExpression;
  }): number => {
    let n = 1;
    for (const p of node.params ?? []) n += expressionSteps(p);
    for (const pair of node.hash?.pairs ?? []) n += expressionSteps(pair.value);
    n += expressionSteps(node.path as Expression | undefined);
    return n;
  };

  // An explicit stack: a deeply nested template must not exhaust the call stack here.
  const stack: Array<{ program: hbs.AST.Program; depth: number; loop: number }> = [
    { program: ast, depth: 0, loop: 0 },
  ];
  while (stack.length > 0) {
    const { program, depth, loop } = stack.pop()!;
    for (const node of program.body as Node[]) {
      switch (node.type) {
        case 'ContentStatement':
          add(profile.text, loop, (node as hbs.AST.ContentStatement).value.length);
          break;
        case 'MustacheStatement':
        case 'PartialStatement':
          add(profile.steps, loop, callSteps(node as hbs.AST.MustacheStatement));
          break;
        case 'Decorator':
          profile.decorators = true;
          break;
        case 'BlockStatement':
        case 'DecoratorBlock':
        case 'PartialBlockStatement': {
          if (node.type === 'DecoratorBlock') profile.decorators = true;
          const block = node as hbs.AST.BlockStatement;
          const inner = depth + 1;
          profile.nesting = Math.max(profile.nesting, inner);
          add(profile.steps, loop, callSteps(block));
          const path = block.path as hbs.AST.PathExpression;
          const once =
            node.type === 'BlockStatement' &&
            path.type === 'PathExpression' &&
            ONCE_HELPERS.has(path.original);
          const innerLoop = once ? loop : loop + 1;
          // Each pass of a loop is a step of its own, even with an empty body.
          if (!once) add(profile.steps, innerLoop, 1);
          if (block.program) stack.push({ program: block.program, depth: inner, loop: innerLoop });
          if (block.inverse) {
            // `{{else if …}}` chains are siblings, not one more level of nesting.
            const chained = (block.inverse as { chained?: boolean }).chained === true;
            stack.push({
              program: block.inverse,
              depth: chained ? depth : inner,
              loop: chained ? loop : innerLoop,
            });
          }
          break;
        }
        default:
          break;
      }
    }
  }
  return profile;
}

/** Throws TemplateLimitError when a parsed field is over the static limits. */
export function assertProfileWithin(
  field: TemplateField,
  profile: FieldProfile,
  limits: TemplateLimits,
): void {
  if (profile.decorators) {
    throw new TemplateLimitError(
      `${field} uses inline partials or decorators ({{#*inline}}), which are not supported: ` +
        'they can expand without bound',
      'inline_partials',
      field,
      null,
      null,
    );
  }
  if (profile.nesting > limits.maxNesting) {
    throw new TemplateLimitError(
      `${field} nests blocks ${profile.nesting} deep; the limit is ${limits.maxNesting} ` +
        '(TEMPLATE_MAX_NESTING)',
      'TEMPLATE_MAX_NESTING',
      field,
      limits.maxNesting,
      profile.nesting,
    );
  }
}

/** What the variables of a render can feed into a template. */
export interface VariableStats {
  /** The longest list (or object, by keys) anywhere: what one loop pass can iterate over. */
  maxItems: number;
  /** The longest text any single value prints as (a list prints all its items). */
  maxValueChars: number;
}

const SCALAR_CHARS = 24;
const OBJECT_CHARS = '[object Object]'.length;
/** Deeper than this, the rest of a value is measured flat (no recursion). */
const MEASURE_DEPTH = 32;

/** Measures one or more variable sets (a batch: the shared and every recipient's). */
export function measureVariables(sets: ReadonlyArray<unknown>): VariableStats {
  const stats: VariableStats = { maxItems: 0, maxValueChars: OBJECT_CHARS };
  const visit = (value: unknown, depth: number): number => {
    if (typeof value === 'string') {
      if (value.length > stats.maxValueChars) stats.maxValueChars = value.length;
      return value.length;
    }
    if (value === null || value === undefined) return 0;
    if (typeof value !== 'object') return SCALAR_CHARS;
    if (depth > MEASURE_DEPTH) return flat(value);
    if (Array.isArray(value)) {
      if (value.length > stats.maxItems) stats.maxItems = value.length;
      let chars = value.length;
      for (const item of value) chars += visit(item, depth + 1);
      if (chars > stats.maxValueChars) stats.maxValueChars = chars;
      return chars;
    }
    const keys = Object.keys(value);
    if (keys.length > stats.maxItems) stats.maxItems = keys.length;
    for (const key of keys) visit((value as Record<string, unknown>)[key], depth + 1);
    return OBJECT_CHARS;
  };
  /** Total printable size of everything under `root`, without recursion (an upper bound). */
  const flat = (root: object): number => {
    let total = 0;
    const pending: unknown[] = [root];
    while (pending.length > 0) {
      const v = pending.pop();
      if (typeof v === 'string') total += v.length;
      else if (v === null || v === undefined) continue;
      else if (typeof v !== 'object') total += SCALAR_CHARS;
      else {
        const items = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
        if (items.length > stats.maxItems) stats.maxItems = items.length;
        total += items.length + OBJECT_CHARS;
        for (const item of items) pending.push(item);
      }
    }
    if (total > stats.maxValueChars) stats.maxValueChars = total;
    return total;
  };
  for (const set of sets) if (set !== undefined) visit(set, 0);
  return stats;
}

export interface CostEstimate {
  /** Upper bound on evaluations. */
  steps: number;
  /** Upper bound on output characters (HTML escaping counted at its worst, 6 per char). */
  outputChars: number;
}

/** An upper bound on what rendering `profile` with variables like `stats` can cost. */
export function estimateCost(
  field: TemplateField,
  profile: FieldProfile,
  stats: VariableStats,
): CostEstimate {
  const items = Math.max(1, stats.maxItems);
  const perValue = stats.maxValueChars * (field === 'html' ? 6 : 1);
  let steps = 0;
  let outputChars = 0;
  const depths = Math.max(profile.steps.length, profile.text.length);
  for (let d = 0; d < depths; d++) {
    const passes = items ** d;
    const s = profile.steps[d] ?? 0;
    steps += s * passes;
    outputChars += ((profile.text[d] ?? 0) + s * perValue) * passes;
  }
  return { steps, outputChars };
}

/** Throws TemplateLimitError when rendering with these variables could exceed the step limit. */
export function assertCostWithin(
  profile: TemplateProfile,
  stats: VariableStats,
  limits: TemplateLimits,
): void {
  for (const field of FIELDS) {
    const p = profile[field];
    if (!p) continue;
    const { steps } = estimateCost(field, p, stats);
    if (steps > limits.maxRenderSteps) {
      throw new TemplateLimitError(
        `${field} could take ${formatCount(steps)} evaluations with these variables ` +
          `(loops nested ${p.steps.length - 1} deep over up to ${stats.maxItems} items); ` +
          `the limit is ${limits.maxRenderSteps} (TEMPLATE_MAX_RENDER_STEPS)`,
        'TEMPLATE_MAX_RENDER_STEPS',
        field,
        limits.maxRenderSteps,
        Number.isFinite(steps) ? steps : null,
      );
    }
  }
}

function formatCount(n: number): string {
  if (!Number.isFinite(n) || n >= 1e15) return 'more than 10^15';
  return String(Math.round(n));
}

/** Throws TemplateLimitError when a rendered field is over TEMPLATE_MAX_OUTPUT_BYTES. */
export function assertOutputWithin(field: TemplateField, out: string, maxBytes: number): void {
  // Checked on the length first: a huge result is often a rope of shared pieces that would
  // have to be flattened (allocated) to be encoded.
  const bytes = out.length > maxBytes ? out.length : Buffer.byteLength(out, 'utf8');
  if (bytes > maxBytes) {
    throw new TemplateLimitError(
      `${field} renders to more than ${maxBytes} bytes (TEMPLATE_MAX_OUTPUT_BYTES)`,
      'TEMPLATE_MAX_OUTPUT_BYTES',
      field,
      maxBytes,
      null,
    );
  }
}
