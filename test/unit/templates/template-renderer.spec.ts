import fs from 'node:fs';
import Handlebars from 'handlebars';
import {
  htmlToPlainText,
  TemplateCompileError,
  TemplateRenderError,
  TemplateRenderer,
  TemplateSource,
} from 'src/modules/templates/template-renderer';

function compileError(fn: () => unknown): TemplateCompileError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateCompileError) return error;
    throw error;
  }
  throw new Error('expected a TemplateCompileError');
}

function renderError(fn: () => unknown): TemplateRenderError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateRenderError) return error;
    throw error;
  }
  throw new Error('expected a TemplateRenderError');
}

const WELCOME: TemplateSource = {
  subject: 'Welcome, {{name}}',
  html: '<p>Hello {{name}}</p>',
  text: 'Hello {{name}}',
};

describe(TemplateRenderer.name, () => {
  let renderer: TemplateRenderer;

  beforeEach(() => {
    renderer = new TemplateRenderer();
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('constructor', () => {
    it.each([-1, 1.5, Number.NaN])('refuses the cache size %s', (cacheSize) => {
      expect(() => new TemplateRenderer({ cacheSize })).toThrow(RangeError);
    });
  });

  describe('compile', () => {
    it('HTML-escapes variables in the html body only', () => {
      const name = `<b>Tom & "Jerry"</b> 'x' =`;
      const rendered = renderer.compile(WELCOME).render({ name });
      expect(rendered.html).toBe(
        '<p>Hello &lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; &#x27;x&#x27; &#x3D;</p>',
      );
      expect(rendered.subject).toBe(`Welcome, ${name}`);
      expect(rendered.text).toBe(`Hello ${name}`);
    });

    it('writes triple-stash values into the html unescaped', () => {
      const rendered = renderer
        .compile({ subject: 's', html: '<div>{{{banner}}}</div>' })
        .render({ banner: '<img src="https://cdn.example/b.png" alt="B">' });
      expect(rendered.html).toBe('<div><img src="https://cdn.example/b.png" alt="B"></div>');
    });

    it('renders a missing variable as empty rather than failing', () => {
      expect(renderer.compile(WELCOME).render({})).toEqual({
        subject: 'Welcome, ',
        html: '<p>Hello </p>',
        text: 'Hello ',
      });
    });

    it('supports the built-in block helpers', () => {
      const rendered = renderer
        .compile({
          subject: '{{#if vip}}VIP: {{/if}}Order {{order.id}}',
          html: '<ul>{{#each items}}<li>{{@index}}. {{this.name}}</li>{{/each}}</ul>',
        })
        .render({ vip: true, order: { id: 42 }, items: [{ name: 'Tea' }, { name: 'Jam' }] });
      expect(rendered.subject).toBe('VIP: Order 42');
      expect(rendered.html).toBe('<ul><li>0. Tea</li><li>1. Jam</li></ul>');
    });

    it('reports a syntax error with its field and line number', () => {
      const error = compileError(() =>
        renderer.compile({
          subject: 'ok',
          html: '<p>\n  <b>Hi</b>\n  {{user.[name}}\n</p>\n<p>Bye</p>',
        }),
      );
      expect(error).toBeInstanceOf(TemplateCompileError);
      expect(error).toMatchObject({ field: 'html', line: 3, column: null });
      expect(error.message).toMatch(/^html: Parse error on line 3/);
    });

    it('reports an unclosed block at the line where the template ends', () => {
      const error = compileError(() =>
        renderer.compile({ subject: 'ok', html: '<p>\n  {{#if vip}}\n  VIP\n</p>' }),
      );
      expect(error).toMatchObject({ field: 'html', line: 4 });
    });

    it('reports a mismatched block with its line and 1-based column', () => {
      const error = compileError(() =>
        renderer.compile({ subject: 'ok', text: 'Hi\n  {{#each items}}x{{/if}}' }),
      );
      expect(error).toMatchObject({ field: 'text', line: 2, column: 6 });
      expect(error.message).toBe("text: each doesn't match if");
    });

    it('reports a lexical error in the subject', () => {
      const error = compileError(() => renderer.compile({ subject: 'Hi {{name', html: '<p></p>' }));
      expect(error).toMatchObject({ field: 'subject', line: 1 });
    });

    it('reports errors from the compiler stage too, not only the parser', () => {
      const error = compileError(() => renderer.compile({ html: '{{> footer a b}}' }));
      expect(error).toMatchObject({ field: 'html', line: 1, column: 1 });
    });

    it('derives the text part from the rendered html when there is none', () => {
      const rendered = renderer
        .compile({
          subject: 'Order {{id}}',
          html: '<h1>Thanks, {{name}}!</h1><p>Track it <a href="{{url}}">here</a>.</p><img src="x.png" alt="logo">',
        })
        .render({ id: 7, name: 'Ann & Bob', url: 'https://shop.example/o/7?a=1&b=2' });
      expect(rendered.text).toBe(
        'THANKS, ANN & BOB!\n\nTrack it here [https://shop.example/o/7?a=1&b=2].',
      );
    });

    it('derives the text part when it is an empty string', () => {
      const rendered = renderer.compile({ html: '<p>Hi</p>', text: '' }).render({});
      expect(rendered.text).toBe('Hi');
    });

    it('renders no html and no text when neither is given', () => {
      expect(renderer.compile({ subject: 'Ping' }).render({})).toEqual({
        subject: 'Ping',
        html: null,
        text: null,
      });
    });

    it('keeps a text part given alongside html instead of deriving one', () => {
      const rendered = renderer.compile(WELCOME).render({ name: 'Ann' });
      expect(rendered.text).toBe('Hello Ann');
    });

    it.each([
      ['CRLF', 'Ann\r\nBcc: victim@example.com'],
      ['LF', 'Ann\nBcc: victim@example.com'],
      ['CR', 'Ann\rBcc: victim@example.com'],
    ])('replaces %s in the rendered subject with a space', (_label, name) => {
      const { subject } = renderer.compile(WELCOME).render({ name });
      expect(subject).toBe('Welcome, Ann Bcc: victim@example.com');
    });

    it('replaces line breaks written into the subject template itself', () => {
      const { subject } = renderer.compile({ subject: 'Line one\nline two\r\n' }).render({});
      expect(subject).toBe('Line one line two ');
    });

    describe('sandboxing', () => {
      beforeEach(() => {
        // Handlebars logs each denied prototype access once; keep the test output clean.
        jest.spyOn(console, 'error').mockImplementation(() => undefined);
      });

      it.each([
        ['{{constructor}}'],
        ['{{__proto__}}'],
        ['{{constructor.name}}'],
        ['{{#with this}}{{constructor.constructor}}{{/with}}'],
        ['{{lookup this "constructor"}}'],
        ['{{#with (lookup this "constructor")}}{{name}}{{/with}}'],
        ['{{name.constructor.name}}'],
      ])('renders %s as nothing', (html) => {
        expect(renderer.compile({ html }).render({ name: 'Ann' }).html).toBe('');
      });

      it('does not expose getters and methods that live on a prototype', () => {
        class Account {
          get secret() {
            return 'hunter2';
          }
          describe() {
            return 'private';
          }
        }
        const { html } = renderer
          .compile({ html: '[{{account.secret}}][{{account.describe}}]' })
          .render({ account: new Account() });
        expect(html).toBe('[][]');
      });

      it('cannot reach the Function constructor to run code', () => {
        const exploit =
          '{{#with "s" as |string|}}{{#with "e"}}{{#with split as |conslist|}}{{this.pop}}' +
          '{{this.push (lookup string.sub "constructor")}}{{this.pop}}' +
          '{{#with string.split as |codelist|}}{{this.pop}}' +
          '{{this.push "globalThis.__templatePwned = true; return 1;"}}{{this.pop}}' +
          '{{#each conslist}}{{#with (string.sub.apply 0 codelist)}}{{this}}{{/with}}{{/each}}' +
          '{{/with}}{{/with}}{{/with}}{{/with}}';
        try {
          renderer.compile({ html: exploit }).render({});
        } catch (error) {
          expect(error).toBeInstanceOf(TemplateRenderError);
        }
        expect((globalThis as Record<string, unknown>).__templatePwned).toBeUndefined();
      });

      it('fails a partial at render time without reading any file', () => {
        const readFile = jest.spyOn(fs, 'readFileSync');
        const compiled = renderer.compile({ subject: 's', html: '<p>{{> footer}}</p>' });
        const error = renderError(() => compiled.render({}));
        expect(error.field).toBe('html');
        expect(error.message).toMatch(/partial footer could not be found/);
        expect(readFile).not.toHaveBeenCalled();
      });

      it('fails a missing helper at render time with the field that failed', () => {
        const compiled = renderer.compile({ subject: '{{shout name}}', html: '<p></p>' });
        const error = renderError(() => compiled.render({ name: 'Ann' }));
        expect(error).toMatchObject({ field: 'subject' });
        expect(error.message).toMatch(/Missing helper: "shout"/);
        expect(error.cause).toBeInstanceOf(Error);
      });

      it('offers no log helper to write to the service logs', () => {
        const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
        const compiled = renderer.compile({ html: '{{log "spam"}}' });
        expect(() => compiled.render({})).toThrow(TemplateRenderError);
        expect(log).not.toHaveBeenCalled();
      });

      it('does not see helpers registered on the global Handlebars instance', () => {
        Handlebars.registerHelper('leak', () => 'LEAKED');
        try {
          expect(renderer.compile({ html: '[{{leak}}]' }).render({}).html).toBe('[]');
        } finally {
          Handlebars.unregisterHelper('leak');
        }
      });
    });

    describe('cache', () => {
      /** Counts how often the renderer's private Handlebars environment compiles a part. */
      function countingRenderer(cacheSize?: number) {
        const create = Handlebars.create.bind(Handlebars);
        let compileSpy: jest.SpyInstance | undefined;
        jest.spyOn(Handlebars, 'create').mockImplementationOnce(() => {
          const env = create();
          compileSpy = jest.spyOn(env, 'compile');
          return env;
        });
        const counted = new TemplateRenderer({ cacheSize });
        return { renderer: counted, compiles: () => compileSpy?.mock.calls.length ?? 0 };
      }

      it('compiles once per cache key and hands back the same template', () => {
        const { renderer: cached, compiles } = countingRenderer();
        const first = cached.compile(WELCOME, 'tpl-1:1000');
        const afterFirst = compiles();
        const second = cached.compile(WELCOME, 'tpl-1:1000');
        expect(afterFirst).toBe(3);
        expect(compiles()).toBe(afterFirst);
        expect(second).toBe(first);
      });

      it('compiles again under a new key, as after an update', () => {
        const { renderer: cached, compiles } = countingRenderer();
        cached.compile(WELCOME, 'tpl-1:1000');
        const updated = cached.compile({ ...WELCOME, subject: 'Hi again, {{name}}' }, 'tpl-1:2000');
        expect(compiles()).toBe(6);
        expect(updated.render({ name: 'Ann' }).subject).toBe('Hi again, Ann');
      });

      it('evicts the least recently used template beyond its size', () => {
        const { renderer: cached, compiles } = countingRenderer(2);
        const a = cached.compile({ subject: 'a' }, 'a');
        cached.compile({ subject: 'b' }, 'b');
        expect(cached.compile({ subject: 'a' }, 'a')).toBe(a); // a is now the most recent
        cached.compile({ subject: 'c' }, 'c'); // evicts b
        expect(compiles()).toBe(3);

        expect(cached.compile({ subject: 'a' }, 'a')).toBe(a);
        expect(compiles()).toBe(3);
        cached.compile({ subject: 'b' }, 'b');
        expect(compiles()).toBe(4);
      });

      it('does not cache without a key', () => {
        const { renderer: cached, compiles } = countingRenderer();
        expect(cached.compile(WELCOME)).not.toBe(cached.compile(WELCOME));
        expect(compiles()).toBe(6);
      });

      it('does not cache with a size of 0', () => {
        const { renderer: cached, compiles } = countingRenderer(0);
        cached.compile(WELCOME, 'k');
        cached.compile(WELCOME, 'k');
        expect(compiles()).toBe(6);
      });

      it('does not cache a template that failed to compile', () => {
        expect(() => renderer.compile({ html: '{{#if}}' }, 'bad')).toThrow(TemplateCompileError);
        expect(() => renderer.compile({ html: '{{#if}}' }, 'bad')).toThrow(TemplateCompileError);
      });
    });
  });

  describe('analyze', () => {
    /**
     * Templates that fail at each stage of Handlebars' precompile (compiler/compiler.js in the
     * handlebars package): the parser, its helpers, the opcode Compiler — and valid ones.
     */
    const CORPUS = [
      '<p>Hello {{name}}</p>',
      '{{#each items}}{{this}}{{else}}none{{/each}}',
      '{{#if a}}x{{else if b}}y{{/if}}',
      '{{"literal"}} {{(helper a)}} {{lookup . "k"}}',
      '{{> footer}}',
      '{{> footer a}}',
      '{{> footer a b}}',
      '{{#> layout}}x{{/layout}}',
      '{{#*inline "p"}}x{{/inline}}',
      '{{#if a}}x{{/each}}',
      '{{foo/../bar}}',
      '{{#*inline "p"}}x{{else}}y{{/inline}}',
      '{{name',
      '{{/if}}',
      '{{#each}}',
      '{{{{raw}}}} {{x}} {{{{/raw}}}}',
      '{{! comment }}{{!-- {{x}} --}}',
    ];

    it.each(CORPUS)('raises exactly the compile errors of a full precompile: %s', (source) => {
      for (const field of ['subject', 'html', 'text'] as const) {
        let expected: Error | null = null;
        try {
          Handlebars.precompile(source, { strict: false, noEscape: field !== 'html' });
        } catch (error) {
          expected = error as Error;
        }
        let actual: TemplateCompileError | null = null;
        try {
          renderer.analyze({ [field]: source });
        } catch (error) {
          if (!(error instanceof TemplateCompileError)) throw error;
          actual = error;
        }
        if (expected === null) {
          expect(actual).toBeNull();
        } else {
          // The same error: message (less its " - line:column" suffix) and position.
          expect(actual).toBeInstanceOf(TemplateCompileError);
          expect(actual!.message).toBe(`${field}: ${expected.message.replace(/ - \d+:\d+$/, '')}`);
          const at = expected as Error & { lineNumber?: number; column?: number };
          if (at.lineNumber !== undefined) expect(actual!.line).toBe(at.lineNumber);
          if (at.column !== undefined) expect(actual!.column).toBe(at.column + 1);
        }
      }
    });

    it('checks without generating code; a compiled part generates its code once, on first render', () => {
      // Handlebars' code generator (on every environment, not in its typings).
      const { JavaScriptCompiler } = Handlebars as unknown as {
        JavaScriptCompiler: { prototype: { compile(...args: unknown[]): unknown } };
      };
      const codegen = jest.spyOn(JavaScriptCompiler.prototype, 'compile');
      renderer.analyze(WELCOME);
      expect(codegen).not.toHaveBeenCalled();
      const compiled = renderer.compile(WELCOME);
      expect(codegen).not.toHaveBeenCalled();
      compiled.render({ name: 'Ann' });
      expect(codegen).toHaveBeenCalledTimes(3);
      compiled.render({ name: 'Bob' });
      expect(codegen).toHaveBeenCalledTimes(3);
    });
  });

  describe('assertCompiles', () => {
    it('accepts a valid template', () => {
      expect(() => renderer.assertCompiles(WELCOME)).not.toThrow();
    });

    it.each([
      ['subject', { subject: '{{#if a}}', html: '<p></p>' }],
      ['html', { subject: 'ok', html: '<p>{{/if}}</p>' }],
      ['text', { subject: 'ok', text: '{{name' }],
    ] as const)('throws a TemplateCompileError naming the broken %s', (field, src) => {
      expect(compileError(() => renderer.assertCompiles(src)).field).toBe(field);
    });
  });
});

describe(htmlToPlainText.name, () => {
  it('keeps link URLs and drops images, head, styles and scripts', () => {
    const html =
      '<html><head><title>T</title><style>p{color:red}</style></head><body>' +
      '<p>See <a href="https://shop.example/sale">the sale</a> or https://shop.example.</p>' +
      '<p><a href="https://shop.example/">https://shop.example/</a></p>' +
      '<img src="https://cdn.example/logo.png" alt="Logo"><script>alert(1)</script></body></html>';
    expect(htmlToPlainText(html)).toBe(
      'See the sale [https://shop.example/sale] or https://shop.example.\n\nhttps://shop.example/',
    );
  });

  it('puts layout table cells on their own lines', () => {
    const html =
      '<table><tr><td>Order</td><td>#42</td></tr>' +
      '<tr><td><table><tr><td>Tea</td><td>$3</td></tr></table></td></tr></table>';
    expect(htmlToPlainText(html)).toBe('Order\n#42\nTea\n$3');
  });

  it('does not wrap long lines', () => {
    const sentence = 'word '.repeat(60).trim();
    expect(htmlToPlainText(`<p>${sentence}</p>`)).toBe(sentence);
  });

  it('decodes entities and keeps list structure', () => {
    expect(htmlToPlainText('<p>Tom &amp; Jerry &lt;3</p><ul><li>one</li><li>two</li></ul>')).toBe(
      'Tom & Jerry <3\n\n * one\n * two',
    );
  });
});
