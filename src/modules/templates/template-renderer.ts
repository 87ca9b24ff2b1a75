import Handlebars from 'handlebars';
import { compile as compileHtmlToText } from 'html-to-text';
import { quoteAttributeMustaches } from 'src/modules/templates/quote-attribute-mustaches';
import {
  assertOutputWithin,
  FieldProfile,
  profileOf,
  TemplateField,
  TemplateLimitError,
  TemplateProfile,
} from 'src/modules/templates/template-limits';

export type { TemplateField };

/** A template that does not compile; surfaced on create/update (README "Management": a 422). */
export class TemplateCompileError extends Error {
  constructor(
    message: string,
    readonly field: TemplateField,
    /** 1-based, when Handlebars reports it. */
    readonly line: number | null,
    /** 1-based, when Handlebars reports it (its parser often does not). */
    readonly column: number | null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A compiled template failed while rendering (a missing helper or partial, …). */
export class TemplateRenderError extends Error {
  constructor(
    message: string,
    readonly field?: TemplateField,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface TemplateSource {
  subject?: string | null;
  html?: string | null;
  text?: string | null;
}

export interface RenderedTemplate {
  subject: string;
  html: string | null;
  text: string | null;
}

/** Limits enforced while a render runs (README "Security": template limits). */
export interface RenderGuard {
  /** Date.now() after which the render stops with a TemplateLimitError. */
  deadline: number;
  /** Helper calls and loop passes allowed. */
  maxSteps: number;
  /** UTF-8 bytes each rendered field may have. */
  maxOutputBytes: number;
}

export interface CompiledTemplate {
  /** What rendering it can cost (see template-limits.ts). */
  readonly profile: TemplateProfile;
  /** Throws TemplateRenderError, or TemplateLimitError when over a limit of `guard`. */
  render(vars: Record<string, unknown>, guard?: RenderGuard): RenderedTemplate;
}

type HandlebarsEnvironment = ReturnType<typeof Handlebars.create>;
type TemplateFn = Handlebars.TemplateDelegate<Record<string, unknown>>;
type CompileOptions = NonNullable<Parameters<HandlebarsEnvironment['compile']>[1]>;
/** Handlebars' opcode compiler: on every environment (`hb.Compiler`), not in its typings. */
type OpcodeCompiler = new () => {
  compile(program: hbs.AST.Program, options: CompileOptions & { data?: boolean }): unknown;
};

const DEFAULT_CACHE_SIZE = 500;

/** Subject and text are plain text: no HTML escaping. The HTML body escapes by default. */
const COMPILE_OPTIONS: Record<TemplateField, CompileOptions> = {
  subject: { strict: false, noEscape: true },
  html: { strict: false, noEscape: false },
  text: { strict: false, noEscape: true },
};

/** Also Handlebars' defaults since 4.6; spelled out so no upgrade or caller can loosen them. */
const RUNTIME_OPTIONS: Handlebars.RuntimeOptions = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
};

/** The guard of the render running now (rendering is synchronous: one at a time per thread). */
let activeGuard: { guard: RenderGuard; steps: number; field: TemplateField } | null = null;

/** Counts a helper call or loop pass against the active guard; checks the clock now and then. */
function tick(): void {
  const g = activeGuard;
  if (g === null) return;
  g.steps += 1;
  if (g.steps > g.guard.maxSteps) {
    throw new TemplateLimitError(
      `${g.field} took more than ${g.guard.maxSteps} evaluations (TEMPLATE_MAX_RENDER_STEPS)`,
      'TEMPLATE_MAX_RENDER_STEPS',
      g.field,
      g.guard.maxSteps,
      null,
    );
  }
  if ((g.steps & 255) === 0 && Date.now() > g.guard.deadline) {
    throw new TemplateLimitError(
      `${g.field} took longer than its time budget (TEMPLATE_RENDER_TIMEOUT_MS)`,
      'TEMPLATE_RENDER_TIMEOUT_MS',
      g.field,
      null,
      null,
    );
  }
}

type HelperFn = (...args: unknown[]) => unknown;
interface HelperOptions {
  fn?: HelperFn;
  inverse?: HelperFn;
}

/** Wraps a built-in helper so each call and each pass over its block counts as a step. */
function guarded(helper: HelperFn): HelperFn {
  return function (this: unknown, ...args: unknown[]): unknown {
    tick();
    const options = args[args.length - 1] as HelperOptions | undefined;
    if (options && typeof options === 'object') {
      for (const key of ['fn', 'inverse'] as const) {
        const body = options[key];
        if (typeof body !== 'function') continue;
        const wrapped = function (this: unknown, ...bodyArgs: unknown[]): unknown {
          tick();
          return body.apply(this, bodyArgs);
        };
        options[key] = Object.assign(wrapped, body);
      }
    }
    return helper.apply(this, args);
  };
}

/** The built-in helpers that take blocks or look values up: every loop goes through them. */
const GUARDED_HELPERS = ['each', 'if', 'unless', 'with', 'lookup', 'blockHelperMissing'];

/**
 * Compiles and renders stored templates in an isolated Handlebars environment with
 * no partials registered and no prototype access, keeping compiled templates in a bounded LRU.
 */
export class TemplateRenderer {
  private readonly handlebars: HandlebarsEnvironment;
  private readonly cacheSize: number;
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly cache = new Map<string, CompiledTemplate>();

  constructor(opts: { cacheSize?: number } = {}) {
    const cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) {
      throw new RangeError(`cacheSize must be a non-negative integer, got ${cacheSize}`);
    }
    this.cacheSize = cacheSize;
    this.handlebars = Handlebars.create();
    // Template authors must not be able to write to the service's logs.
    this.handlebars.unregisterHelper('log');
    // Every loop pass is counted and the clock checked (README "Security": template limits).
    for (const name of GUARDED_HELPERS) {
      const helper = this.handlebars.helpers[name] as HelperFn | undefined;
      if (helper) this.handlebars.registerHelper(name, guarded(helper));
    }
  }

  /**
   * Compiles every part now, so a syntax error is a TemplateCompileError here rather than a
   * failure at send time. `cacheKey` must change whenever the source does (callers pass
   * `templateId:updatedAtMs`); without one nothing is cached.
   */
  compile(src: TemplateSource, cacheKey?: string): CompiledTemplate {
    if (cacheKey !== undefined) {
      const cached = this.cache.get(cacheKey);
      if (cached) {
        this.cache.delete(cacheKey);
        this.cache.set(cacheKey, cached);
        return cached;
      }
    }
    const compiled = this.compileUncached(src);
    if (cacheKey !== undefined && this.cacheSize > 0) {
      this.cache.set(cacheKey, compiled);
      if (this.cache.size > this.cacheSize) {
        this.cache.delete(this.cache.keys().next().value as string);
      }
    }
    return compiled;
  }

  /** Throws TemplateCompileError for the first part that does not compile. */
  assertCompiles(src: TemplateSource): void {
    this.analyze(src);
  }

  /**
   * Checks that every part compiles (without keeping it) and returns what rendering it can
   * cost. Throws TemplateCompileError for the first part that does not compile.
   */
  analyze(src: TemplateSource): TemplateProfile {
    const profile: TemplateProfile = {};
    for (const field of ['subject', 'html', 'text'] as const) {
      const source = src[field];
      if (!source) continue;
      profile[field] = this.checkField(field, source);
    }
    return profile;
  }

  private compileUncached(src: TemplateSource): CompiledTemplate {
    const subject = this.compileField('subject', src.subject ?? '');
    const html = src.html ? this.compileField('html', src.html) : null;
    const text = src.text ? this.compileField('text', src.text) : null;
    const profile: TemplateProfile = { subject: subject.profile };
    if (html) profile.html = html.profile;
    if (text) profile.text = text.profile;

    return {
      profile,
      render: (vars, guard) => {
        const state = guard ? { guard, steps: 0, field: 'subject' as TemplateField } : null;
        const run = (field: TemplateField, fn: TemplateFn): string => {
          if (state) state.field = field;
          const out = renderField(field, fn, vars, state);
          if (guard) assertOutputWithin(field, out, guard.maxOutputBytes);
          return out;
        };
        const renderedSubject = run('subject', subject.fn);
        const renderedHtml = html ? run('html', html.fn) : null;
        let renderedText: string | null = null;
        if (text) renderedText = run('text', text.fn);
        else if (renderedHtml !== null) renderedText = htmlToPlainText(renderedHtml);
        return {
          // A line break in a header value would start a new header (header injection);
          // VT, FF, NEL, U+2028 and U+2029 count as line breaks too (README "API overview").
          subject: renderedSubject.replace(/\r\n|[\r\n\v\f\u0085\u2028\u2029]/g, ' '),
          html: renderedHtml,
          text: renderedText,
        };
      },
    };
  }

  private compileField(
    field: TemplateField,
    source: string,
  ): { fn: TemplateFn; profile: FieldProfile } {
    // Every compile error is raised now; Handlebars.compile generates the code lazily, once,
    // on the first render.
    const profile = this.checkField(field, source);
    const compiled = field === 'html' ? quoteAttributeMustaches(source) : source;
    return {
      fn: this.handlebars.compile<Record<string, unknown>>(compiled, COMPILE_OPTIONS[field]),
      profile,
    };
  }

  /**
   * Raises every error compiling `source` can raise, and profiles it, from one parse.
   * Handlebars compiles in three stages (compiler/compiler.js `precompile`): the parser, the
   * opcode Compiler — where its compile-time checks are (partial arguments, known helpers) —
   * and the JavaScriptCompiler, which only writes the code of a program the Compiler accepted
   * and is most of the cost (about three quarters for a template of 2,000 mustaches; README
   * "Security": template limits). A check needs the first two stages only.
   */
  private checkField(field: TemplateField, source: string): FieldProfile {
    try {
      const ast = this.handlebars.parse(source);
      // Profiled before the Compiler runs: it rewrites literal helper paths in place.
      const profile = profileOf(ast);
      const Compiler = (this.handlebars as unknown as { Compiler: OpcodeCompiler }).Compiler;
      // As precompile calls it: a copy of the options (the Compiler extends them), `data` on.
      new Compiler().compile(ast, { ...COMPILE_OPTIONS[field], data: true });
      return profile;
    } catch (error) {
      throw toCompileError(field, error);
    }
  }
}

function renderField(
  field: TemplateField,
  template: TemplateFn,
  vars: Record<string, unknown>,
  state: typeof activeGuard,
): string {
  const outer = activeGuard;
  activeGuard = state;
  try {
    return template(vars, RUNTIME_OPTIONS);
  } catch (error) {
    if (error instanceof TemplateLimitError) throw error;
    if (state && error instanceof RangeError && /Invalid string length/.test(error.message)) {
      throw new TemplateLimitError(
        `${field} renders to more than ${state.guard.maxOutputBytes} bytes ` +
          '(TEMPLATE_MAX_OUTPUT_BYTES)',
        'TEMPLATE_MAX_OUTPUT_BYTES',
        field,
        state.guard.maxOutputBytes,
        null,
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new TemplateRenderError(`${field}: ${reason}`, field, { cause: error });
  } finally {
    activeGuard = outer;
  }
}

/** Handlebars' own errors carry 1-based `lineNumber` and 0-based `column`; its parser's only a message. */
function toCompileError(field: TemplateField, error: unknown): TemplateCompileError {
  const raw = error instanceof Error ? error.message : String(error);
  const located = error as { lineNumber?: unknown; column?: unknown };
  let line = typeof located.lineNumber === 'number' ? located.lineNumber : null;
  const column = typeof located.column === 'number' ? located.column + 1 : null;
  if (line === null) {
    const match = /(?:Parse|Lexical) error on line (\d+)/.exec(raw);
    if (match) line = Number(match[1]);
  }
  // Drop Handlebars' " - line:column" suffix; the numbers are in the fields.
  const message = raw.replace(/ - \d+:\d+$/, '');
  return new TemplateCompileError(`${field}: ${message}`, field, line, column);
}

const convertHtmlToText = compileHtmlToText({
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'head', format: 'skip' },
    { selector: 'title', format: 'skip' },
    { selector: 'style', format: 'skip' },
    { selector: 'script', format: 'skip' },
    // Mail HTML uses tables for layout, not data: each cell becomes its own line.
    {
      selector: 'table',
      format: 'block',
      options: { leadingLineBreaks: 1, trailingLineBreaks: 1 },
    },
    { selector: 'tr', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    { selector: 'td', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    { selector: 'th', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
  ],
});

/** The plain-text alternative of an HTML body: link URLs kept, images dropped, no wrapping. */
export function htmlToPlainText(html: string): string {
  return convertHtmlToText(html).trim();
}
