import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import Handlebars from 'handlebars';

/** The pages of the dashboard, one `views/<name>.hbs` each. */
export const DASHBOARD_VIEWS = [
  'overview',
  'logs',
  'message',
  'report',
  'feedback',
  'feedback-report',
  'domains',
  'setup',
  'event-webhooks',
  'event-webhook',
  'event-webhook-delivery',
  'error',
] as const;
export type DashboardView = (typeof DASHBOARD_VIEWS)[number];

/** Partials the pages use: `{{#> layout}}` wraps every page. */
const PARTIALS = ['layout'] as const;

type HandlebarsEnvironment = ReturnType<typeof Handlebars.create>;
type TemplateFn = Handlebars.TemplateDelegate<object>;

/**
 * `{{x}}` always escapes; strict mode turns a misspelt or missing field into an error instead
 * of an empty string, so a view model that drifts from its template fails the tests.
 */
const COMPILE_OPTIONS = { strict: true, noEscape: false } as const;

export const VIEWS_DIR = join(__dirname, 'views');
export const ASSETS_DIR = join(__dirname, 'assets');

/**
 * The dashboard's Handlebars views and its stylesheet, read and compiled once when the module
 * is built (a broken template stops start-up instead of the first request), rendered with a
 * private Handlebars environment so templates registered elsewhere never leak in.
 */
@Injectable()
export class DashboardViews {
  private readonly hb: HandlebarsEnvironment = Handlebars.create();
  private readonly views: Map<DashboardView, TemplateFn>;
  /** The stylesheet, served at `/dashboard/assets/dashboard.css`. */
  readonly stylesheet: string;
  /** Content hash of the stylesheet: its URL changes when it does, so it can be cached. */
  readonly stylesheetVersion: string;

  constructor() {
    for (const name of PARTIALS) this.hb.registerPartial(name, this.compileFile(name));
    this.views = new Map(DASHBOARD_VIEWS.map((name) => [name, this.compileFile(name)]));
    this.stylesheet = readFileSync(join(ASSETS_DIR, 'dashboard.css'), 'utf8');
    this.stylesheetVersion = createHash('sha256')
      .update(this.stylesheet)
      .digest('hex')
      .slice(0, 12);
  }

  render(view: DashboardView, model: object): string {
    const template = this.views.get(view);
    if (!template) throw new Error(`unknown dashboard view ${view}`);
    return template(model);
  }

  /** Precompiles one view to its template object now, not lazily on first render. */
  private compileFile(name: string): TemplateFn {
    const source = readFileSync(join(VIEWS_DIR, `${name}.hbs`), 'utf8');
    try {
      const spec = this.hb.precompile(source, COMPILE_OPTIONS) as string;
      // The precompiled spec is JavaScript source for an object literal, made by Handlebars
      // from our own template files (never from user input).
      const templateSpec = new Function(`return ${spec};`)() as TemplateSpecification;
      return this.hb.template(templateSpec) as TemplateFn;
    } catch (err) {
      throw new Error(`dashboard view ${name}.hbs does not compile: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
