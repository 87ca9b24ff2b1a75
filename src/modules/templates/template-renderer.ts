import Handlebars from 'handlebars';
import { compile as compileHtmlToText } from 'html-to-text';
import { quoteAttributeMustaches } from 'src/modules/templates/quote-attribute-mustaches';

export type TemplateField = 'subject' | 'html' | 'text';

/** A template that does not compile; surfaced at create/update time (SPEC §5: a 422). */
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

export interface CompiledTemplate {
  /** Throws TemplateRenderError. */
  render(vars: Record<string, unknown>): RenderedTemplate;
}

type HandlebarsEnvironment = ReturnType<typeof Handlebars.create>;
type TemplateFn = Handlebars.TemplateDelegate<Record<string, unknown>>;
type CompileOptions = NonNullable<Parameters<HandlebarsEnvironment['compile']>[1]>;

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

/**
 * Compiles and renders stored templates (SPEC §5) in an isolated Handlebars environment with
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
    for (const field of ['subject', 'html', 'text'] as const) {
      const source = src[field];
      if (source) this.precompile(field, source);
    }
  }

  private compileUncached(src: TemplateSource): CompiledTemplate {
    const subject = this.compileField('subject', src.subject ?? '');
    const html = src.html ? this.compileField('html', src.html) : null;
    const text = src.text ? this.compileField('text', src.text) : null;

    return {
      render: (vars) => {
        const renderedHtml = html ? renderField('html', html, vars) : null;
        let renderedText: string | null = null;
        if (text) renderedText = renderField('text', text, vars);
        else if (renderedHtml !== null) renderedText = htmlToPlainText(renderedHtml);
        return {
          // A line break in a header value would start a new header (header injection).
          subject: renderField('subject', subject, vars).replace(/\r\n|[\r\n]/g, ' '),
          html: renderedHtml,
          text: renderedText,
        };
      },
    };
  }

  private compileField(field: TemplateField, source: string): TemplateFn {
    // Handlebars.compile is lazy; precompile runs the whole parser and compiler now.
    this.precompile(field, source);
    const compiled = field === 'html' ? quoteAttributeMustaches(source) : source;
    return this.handlebars.compile<Record<string, unknown>>(compiled, COMPILE_OPTIONS[field]);
  }

  private precompile(field: TemplateField, source: string): void {
    try {
      this.handlebars.precompile(source, COMPILE_OPTIONS[field]);
    } catch (error) {
      throw toCompileError(field, error);
    }
  }
}

function renderField(field: TemplateField, template: TemplateFn, vars: Record<string, unknown>) {
  try {
    return template(vars, RUNTIME_OPTIONS);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TemplateRenderError(`${field}: ${reason}`, field, { cause: error });
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
