import fc from 'fast-check';
import { parse, serialize, type DefaultTreeAdapterTypes } from 'parse5';
import { TemplateRenderer } from 'src/modules/templates/template-renderer';
import { hostileString } from 'test/utils/fuzz';

/**
 * No variable content can inject markup into the HTML body. A value rendered with
 * {{var}} in text, in a quoted attribute, in RCDATA, a comment, a script or a style must leave
 * the document's structure (elements and attributes) exactly as the template wrote it, and read
 * back as the value itself; the subject and the text part take the value verbatim.
 */

type Node = DefaultTreeAdapterTypes.Node;

/** As mail clients (and the tracking rewriter) parse: no scripting, so <noscript> is markup. */
const MAIL = { scriptingEnabled: false };

/**
 * Where a template author can put {{value}}: text, quoted and unquoted attributes (the renderer
 * quotes an unquoted one that holds a mustache), RCDATA, comments, script, style, foreign content.
 */
const CONTEXTS = [
  '<img alt={{value}} src="https://img.example/a.png">',
  '<td class=cell-{{value}} width=10>x</td>',
  '<p>{{value}}</p>',
  '<p>a {{value}} b</p>',
  '<a href="https://shop.example/?q={{value}}" title="{{value}}">x</a>',
  '<img alt=\'{{value}}\' src="https://img.example/a.png">',
  '<td data-x="{{value}}{{value}}">{{value}}</td>',
  '<title>{{value}}</title>',
  '<textarea>{{value}}</textarea>',
  '<!-- {{value}} -->',
  '<script>var v = "{{value}}";</script>',
  '<style>.x::after { content: "{{value}}" }</style>',
  '<svg><text>{{value}}</text></svg>',
  '<table><tr><td>{{value}}</td></tr></table>',
  '<noscript>{{value}}</noscript>',
  '<select><option>{{value}}</option></select>',
];

/** Variable values: arbitrary text, markup-looking text, and non-string JSON values. */
const value = fc.oneof(
  { weight: 5, arbitrary: hostileString(40) },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.constantFrom(
          '<',
          '>',
          '&',
          '"',
          "'",
          '`',
          '=',
          '/',
          '-->',
          '--!>',
          '<!--',
          ']]>',
          '</script>',
          '</title>',
          '</textarea>',
          '<img src=x onerror=alert(1)>',
          '" onmouseover="alert(1)',
          "' autofocus onfocus='alert(1)",
          '&amp;',
          '&#60;',
          '&lt',
          '{{x}}',
          ' ',
          '\n',
          'x',
        ),
        { maxLength: 8 },
      )
      .map((parts) => parts.join('')),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(hostileString(10), { maxLength: 3 }),
    ),
  },
);

/** Element names with their attribute names, in document order (template contents included). */
function structure(html: string): string[] {
  const out: string[] = [];
  const visit = (node: Node) => {
    if ('tagName' in node) {
      out.push(`${node.namespaceURI} ${node.tagName}[${node.attrs.map((a) => a.name).join(' ')}]`);
      if (node.tagName === 'template') visit((node as DefaultTreeAdapterTypes.Template).content);
    }
    if ('childNodes' in node) node.childNodes.forEach(visit);
  };
  visit(parse(html, MAIL));
  return out;
}

/** What Handlebars' {{value}} must amount to: the value as text, escaped. */
function escaped(v: unknown): string {
  const text = v === null || v === undefined ? '' : String(v);
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/`/g, '&#96;')
    .replace(/=/g, '&#61;');
}

describe('template rendering of variables (fuzz)', () => {
  const renderer = new TemplateRenderer({ cacheSize: 0 });

  it('never changes the HTML structure, and the value reads back as itself', () => {
    fc.assert(
      fc.property(
        fc.subarray(CONTEXTS, { minLength: 1 }),
        value,
        fc.boolean(),
        (contexts, v, wrap) => {
          const body = contexts.join('\n');
          const source = wrap ? `<!DOCTYPE html><html><body>${body}</body></html>` : body;
          const html = renderer.compile({ subject: 's', html: source }).render({ value: v }).html!;
          // The reference quotes what the renderer quotes: unquoted attribute values.
          const quoted = source
            .replace('alt={{value}}', 'alt="{{value}}"')
            .replace('class=cell-{{value}}', 'class="cell-{{value}}"');
          const reference = quoted.replace(/\{\{value\}\}/g, () => escaped(v));
          // Same elements with the same attributes as the template wrote, nothing added…
          const written = structure(source.replace(/\{\{value\}\}/g, 'x'));
          expect(structure(html)).toEqual(written);
          expect(structure(reference)).toEqual(written);
          // …and, once parsed, the same text and attribute values as correct escaping gives.
          // Script, style and comments hold the escaped text literally (entities are not
          // decoded there), so only the markup contexts are compared byte for byte.
          const markupOnly = (h: string) =>
            serialize(parse(h, MAIL))
              .replace(/<script>[\s\S]*?<\/script>/g, '')
              .replace(/<style>[\s\S]*?<\/style>/g, '')
              .replace(/<!--[\s\S]*?-->/g, '');
          expect(markupOnly(html)).toBe(markupOnly(reference));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('renders the subject and the text part verbatim (they are not HTML)', () => {
    fc.assert(
      fc.property(hostileString(60), hostileString(10), (v, around) => {
        // The template's own text: no braces or backslashes (Handlebars syntax), no U+0000.
        const safeAround = around.replace(/[{}\\]/g, '').replaceAll('\u0000', '');
        const rendered = renderer
          .compile({
            subject: `${safeAround}{{value}}${safeAround}`,
            text: `${safeAround}{{value}}\n{{{value}}}`,
          })
          .render({ value: v });
        // A line break in the subject would start a new header: it becomes a space. VT, FF,
        // NEL, U+2028 and U+2029 count as line breaks too (README, Security).
        expect(rendered.subject).toBe(
          `${safeAround}${v}${safeAround}`.replace(/\r\n|[\r\n\v\f\u0085\u2028\u2029]/g, ' '),
        );
        expect(rendered.text).toBe(`${safeAround}${v}\n${v}`);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps markup out of the text derived from an HTML-only template', () => {
    fc.assert(
      // No U+0000: the API refuses it, and the two parsers treat it differently.
      fc.property(
        value.filter((v) => !String(v).includes('\u0000')),
        (v) => {
          const rendered = renderer
            .compile({ subject: 's', html: '<p>{{value}}</p>' })
            .render({ value: v });
          // The derived text is what a plain-text reader sees: never a tag the value smuggled in
          // that the HTML part did not show as text.
          const shown = parse(rendered.html!, MAIL)
            .childNodes.flatMap(function texts(n: Node): string[] {
              if (n.nodeName === '#text') return [(n as DefaultTreeAdapterTypes.TextNode).value];
              return 'childNodes' in n ? n.childNodes.flatMap(texts) : [];
            })
            .join('');
          // html-to-text collapses whitespace, the zero-width space included.
          const squash = (s: string) => s.replace(/[\s\u200b]+/g, '');
          expect(squash(rendered.text ?? '')).toBe(squash(shown));
        },
      ),
      { numRuns: 200 },
    );
  });
});
