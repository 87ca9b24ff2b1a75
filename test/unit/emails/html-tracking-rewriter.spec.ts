import fc from 'fast-check';
import { parse, type DefaultTreeAdapterTypes } from 'parse5';
import {
  rewriteHtmlForTracking,
  TrackingRewriteOptions,
} from 'src/modules/emails/tracking/html-tracking-rewriter';

type Node = DefaultTreeAdapterTypes.Node;
type Element = DefaultTreeAdapterTypes.Element;

const CLICK_PREFIX = 'https://track.example/t/c/';
const PIXEL_URL = 'https://track.example/t/o/tok?x=1&y=2';
const PIXEL_TAG =
  '<img src="https://track.example/t/o/tok?x=1&amp;y=2" width="1" height="1" alt="" style="display:none" />';
const UNSUBSCRIBE_URL = 'https://track.example/unsubscribe/u-tok';
const FOOTER =
  '<p class="footer"><a href="https://track.example/unsubscribe/u-tok">Unsubscribe</a></p>';

/** A reversible stand-in for the signed click URL. */
function clickUrl(url: string): string {
  return CLICK_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

function decodeClick(href: string): string | null {
  if (!href.startsWith(CLICK_PREFIX)) return null;
  return Buffer.from(href.slice(CLICK_PREFIX.length), 'base64url').toString('utf8');
}

function rewrite(html: string, opts: TrackingRewriteOptions = {}) {
  return rewriteHtmlForTracking(html, { clickUrl, ...opts });
}

function elements(html: string): Element[] {
  const found: Element[] = [];
  const visit = (node: Node) => {
    if ('tagName' in node) found.push(node);
    if ('childNodes' in node) node.childNodes.forEach(visit);
  };
  visit(parse(html, { sourceCodeLocationInfo: true }));
  return found;
}

/** href values of the document's links, as the browser reads them (entities decoded). */
function linkHrefs(html: string): string[] {
  return elements(html)
    .filter((e) => (e.tagName === 'a' || e.tagName === 'area') && e.sourceCodeLocation)
    .map((e) => e.attrs.find((a) => a.name === 'href')?.value ?? '');
}

/** Every text node of the parsed document, in order. */
function textContent(html: string): string {
  let text = '';
  const visit = (node: Node) => {
    if (node.nodeName === '#text') text += (node as DefaultTreeAdapterTypes.TextNode).value;
    if ('childNodes' in node) node.childNodes.forEach(visit);
  };
  visit(parse(html));
  return text;
}

/** The document with each link's href attribute (whatever it says) replaced by a marker. */
function withHrefsMasked(html: string): string {
  const spans = elements(html)
    .filter((e) => e.tagName === 'a' || e.tagName === 'area')
    .map((e) => e.sourceCodeLocation?.attrs?.href)
    .filter((l) => l !== undefined)
    .sort((a, b) => b.startOffset - a.startOffset);
  let masked = html;
  for (const span of spans) {
    masked = `${masked.slice(0, span.startOffset)}HREF${masked.slice(span.endOffset)}`;
  }
  return masked;
}

const NEWSLETTER = [
  '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\r\n',
  '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml">\r\n',
  '<head><meta charset="utf-8"><title>Spring &amp; Summer</title>\r\n',
  '<style type="text/css">a[href^="http"] { color: #C00 } .x>p{margin:0}</style>\r\n',
  '<!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->\r\n',
  '</head>\r\n',
  '<BODY style="margin:0" >\r\n',
  '  <table role="presentation" width="100%"><tr><td align=center>\r\n',
  '    <a   HREF = "https://shop.example/sale?utm_source=mail&amp;utm_medium=email#top"  class=btn>Sale&nbsp;now</a>\r\n',
  "    <a href='http://shop.example/\u00e9t\u00e9'>Été</a> &copy; 2024 <br/>\r\n",
  '    <a href=https://shop.example/unquoted>unquoted</a>\r\n',
  '    <a href="mailto:help@shop.example">Mail us</a> <a href="#top">Top</a>\r\n',
  '    <!-- <a href="https://commented.example/">not a link</a> </body> -->\r\n',
  '    <script>document.write("<a href=\\"https://script.example/\\"></body>")</script>\r\n',
  '    <img src="https://cdn.shop.example/logo.png" alt="Logo">\r\n',
  '  </td></tr></table>\r\n',
  '</BODY>\r\n',
  '</html>\r\n',
].join('');

describe(rewriteHtmlForTracking.name, () => {
  describe('links', () => {
    it('passes clickUrl the exact URL the browser would follow, entities decoded', () => {
      const spy = jest.fn(clickUrl);
      rewriteHtmlForTracking(
        '<a href="https://shop.example/p?a=1&amp;b=2&#38;c=3&#x26;d=%20#frag-ment">x</a>',
        { clickUrl: spy },
      );
      expect(spy).toHaveBeenCalledWith('https://shop.example/p?a=1&b=2&c=3&d=%20#frag-ment');
    });

    it('keeps a bare &name= in an attribute literal, as browsers do', () => {
      const { html } = rewrite('<a href="https://x.example/?a=1&copy=2&not=3">x</a>');
      expect(linkHrefs(html).map(decodeClick)).toEqual(['https://x.example/?a=1&copy=2&not=3']);
    });

    it.each([
      ['query and fragment', 'https://shop.example/a/b?x=1&y=two%20words#section-2'],
      ['unicode host and path', 'https://bücher.example/straße/ü?q=✓#é'],
      ['an upper-case scheme', 'HTTPS://SHOP.EXAMPLE/Path?Q=1'],
      ['a mixed-case http scheme', 'hTtP://shop.example/'],
      ['quotes and angle brackets', `https://shop.example/?q="a"&r='b'&s=<c>`],
      ['a port and credentials', 'http://user:pw@shop.example:8080/x'],
    ])('rewrites a link with %s and keeps its URL exactly', (_label, url) => {
      const escaped = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
      const result = rewrite(`<p><a href="${escaped}">link</a></p>`);
      expect(result.linksRewritten).toBe(1);
      expect(linkHrefs(result.html).map(decodeClick)).toEqual([url]);
    });

    it('trims the whitespace and drops the tabs and newlines that the URL parser ignores', () => {
      const spy = jest.fn(clickUrl);
      rewriteHtmlForTracking('<a href=" \n\thttps://shop.example/a\tb\nc?d=1 \r\n">x</a>', {
        clickUrl: spy,
      });
      expect(spy).toHaveBeenCalledWith('https://shop.example/abc?d=1');
    });

    it('rewrites unquoted, single-quoted and <area> hrefs and keeps the attribute name as written', () => {
      const { html, linksRewritten } = rewrite(
        "<a HREF=http://a.example/>a</a><a href='http://b.example/'>b</a>" +
          '<map name="m"><area shape="rect" coords="0,0,1,1" Href="http://c.example/"></map>',
      );
      expect(linksRewritten).toBe(3);
      expect(html).toBe(
        `<a HREF="${clickUrl('http://a.example/')}">a</a><a href="${clickUrl('http://b.example/')}">b</a>` +
          `<map name="m"><area shape="rect" coords="0,0,1,1" Href="${clickUrl('http://c.example/')}"></map>`,
      );
    });

    it('HTML-escapes the tracked URL when writing it back', () => {
      const { html } = rewriteHtmlForTracking('<a href="https://x.example/">x</a>', {
        clickUrl: () => `https://t.example/c?a=1&b="2"&c='3'`,
      });
      expect(html).toBe(
        '<a href="https://t.example/c?a=1&amp;b=&quot;2&quot;&amp;c=&#39;3&#39;">x</a>',
      );
      expect(linkHrefs(html)).toEqual([`https://t.example/c?a=1&b="2"&c='3'`]);
    });

    it('rewrites every link, each once, including ones the parser re-opens around misnested tags', () => {
      const spy = jest.fn(clickUrl);
      const { html, linksRewritten } = rewriteHtmlForTracking(
        '<b><a href="http://one.example/">1<p>2</b>3</a></p><a href="http://two.example/">2</a>',
        { clickUrl: spy },
      );
      expect(linksRewritten).toBe(2);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(html).toBe(
        `<b><a href="${clickUrl('http://one.example/')}">1<p>2</b>3</a></p><a href="${clickUrl('http://two.example/')}">2</a>`,
      );
    });

    it('leaves every link untouched when clickUrl is not given', () => {
      const result = rewriteHtmlForTracking(NEWSLETTER, {});
      expect(result).toEqual({
        html: NEWSLETTER,
        linksRewritten: 0,
        unsubscribeLinkPresent: false,
      });
    });

    it('leaves a link untouched when clickUrl returns null', () => {
      const html = '<a href="https://a.example/">a</a><a href="https://b.example/">b</a>';
      const result = rewriteHtmlForTracking(html, {
        clickUrl: (url) => (url.includes('a.example') ? null : clickUrl(url)),
      });
      expect(result.linksRewritten).toBe(1);
      expect(linkHrefs(result.html)).toEqual([
        'https://a.example/',
        clickUrl('https://b.example/'),
      ]);
    });

    it('keeps everything but the rewritten hrefs byte-for-byte', () => {
      const { html, linksRewritten } = rewrite(NEWSLETTER);
      expect(linksRewritten).toBe(3);
      expect(withHrefsMasked(html)).toBe(withHrefsMasked(NEWSLETTER));
      expect(linkHrefs(html).map((h) => decodeClick(h) ?? h)).toEqual([
        'https://shop.example/sale?utm_source=mail&utm_medium=email#top',
        'http://shop.example/été',
        'https://shop.example/unquoted',
        'mailto:help@shop.example',
        '#top',
      ]);
    });
  });

  describe('skip rules', () => {
    it.each([
      ['a mailto: link', 'mailto:ann@example.com?subject=Hi'],
      ['a tel: link', 'tel:+15551234567'],
      ['a fragment link', '#section'],
      ['a relative path link', 'account/settings'],
      ['a root-relative path link', '/account'],
      ['a scheme-relative URL', '//cdn.example/x'],
      ['a javascript: link', 'javascript:alert(1)'],
      ['an entity-obfuscated javascript: link', '&#x6A;avascript:alert(1)'],
      ['an ftp: link', 'ftp://files.example/a'],
      ['a data: link', 'data:text/html,hi'],
      ['an http: link without slashes', 'http:shop.example'],
      ['an empty href', ''],
      ['an unparseable http URL', 'http://exa mple.com/'],
    ])('leaves %s untouched', (_label, href) => {
      const source = `<p>x <a href="${href}">link</a></p>`;
      expect(rewrite(source)).toEqual({
        html: source,
        linksRewritten: 0,
        unsubscribeLinkPresent: false,
      });
    });

    it('leaves a link with data-no-track untouched, attribute included', () => {
      const source =
        '<a data-no-track href="https://a.example/">a</a><a href="https://b.example/">b</a>';
      const { html } = rewrite(source);
      expect(html).toBe(
        `<a data-no-track href="https://a.example/">a</a><a href="${clickUrl('https://b.example/')}">b</a>`,
      );
    });

    it('leaves the unsubscribe link untouched, however its href is spelled', () => {
      const url = 'https://track.example/unsubscribe/tok?a=1&b=2';
      const source = '<a href=" https://track.example/unsubscribe/tok?a=1&amp;b=2">Unsubscribe</a>';
      expect(rewrite(source, { unsubscribeUrl: url })).toEqual({
        html: source,
        linksRewritten: 0,
        unsubscribeLinkPresent: true,
      });
    });

    it('rewrites only links: not <link>, <base>, <img> or hrefs on other elements', () => {
      const source =
        '<head><base href="https://base.example/"><link rel="stylesheet" href="https://css.example/a.css"></head>' +
        '<body><div href="https://div.example/">d</div><img src="https://img.example/a.png"></body>';
      expect(rewrite(source).html).toBe(source);
    });

    it('ignores link-like text in comments, scripts, styles, textareas and template content', () => {
      const source =
        '<!-- <a href="https://c.example/">c</a> -->' +
        '<script>var s = \'<a href="https://s.example/">\';</script>' +
        '<style>/* <a href="https://st.example/"> */</style>' +
        '<textarea><a href="https://ta.example/">t</a></textarea>' +
        '<template><a href="https://tpl.example/">t</a></template>';
      expect(rewrite(source)).toEqual({
        html: source,
        linksRewritten: 0,
        unsubscribeLinkPresent: false,
      });
    });
  });

  describe('open pixel', () => {
    it('goes just before </body>', () => {
      const { html } = rewrite('<html><body><p>Hi</p></body></html>', { pixelUrl: PIXEL_URL });
      expect(html).toBe(`<html><body><p>Hi</p>${PIXEL_TAG}</body></html>`);
    });

    it('goes before </body> when <body> itself is implied', () => {
      const { html } = rewrite('<p>Hi</p>\n</body>\n</html>', { pixelUrl: PIXEL_URL });
      expect(html).toBe(`<p>Hi</p>\n${PIXEL_TAG}</body>\n</html>`);
    });

    it('goes before the last </body> the parser acted on', () => {
      const { html } = rewrite('<body><p>a</p></body><p>b</p></body>', { pixelUrl: PIXEL_URL });
      expect(html).toBe(`<body><p>a</p></body><p>b</p>${PIXEL_TAG}</body>`);
    });

    it('goes before </html> when there is no </body>', () => {
      const { html } = rewrite('<html><body><p>Hi</p></html>', { pixelUrl: PIXEL_URL });
      expect(html).toBe(`<html><body><p>Hi</p>${PIXEL_TAG}</html>`);
    });

    it.each([
      ['a fragment', '<p>Hi</p>'],
      ['an unclosed body', '<html><body><div>Hi'],
      [
        '</body> only inside a comment and a script',
        '<p>Hi</p><!-- </body> --><script>"</body>"</script>',
      ],
      ['an empty document', ''],
    ])('goes at the end of %s', (_label, source) => {
      expect(rewrite(source, { pixelUrl: PIXEL_URL }).html).toBe(source + PIXEL_TAG);
    });

    it('adds no pixel without pixelUrl', () => {
      expect(rewrite('<body>x</body>').html).toBe('<body>x</body>');
    });
  });

  describe('unsubscribe footer', () => {
    it('is inserted before </body>, ahead of the pixel, when the document has no unsubscribe link', () => {
      const result = rewrite('<body><p>Hi</p></body>', {
        pixelUrl: PIXEL_URL,
        unsubscribeUrl: UNSUBSCRIBE_URL,
        footerHtml: FOOTER,
      });
      expect(result).toEqual({
        html: `<body><p>Hi</p>${FOOTER}${PIXEL_TAG}</body>`,
        linksRewritten: 0,
        unsubscribeLinkPresent: false,
      });
    });

    it('is not inserted when the document already links to the unsubscribe URL', () => {
      const source = `<body><p>Hi <a href="${UNSUBSCRIBE_URL}">unsubscribe</a></p></body>`;
      expect(rewrite(source, { unsubscribeUrl: UNSUBSCRIBE_URL, footerHtml: FOOTER })).toEqual({
        html: source,
        linksRewritten: 0,
        unsubscribeLinkPresent: true,
      });
    });

    it('counts an <area> pointing at the unsubscribe URL as a link to it', () => {
      const source = `<map><area href="${UNSUBSCRIBE_URL}"></map>`;
      expect(rewrite(source, { unsubscribeUrl: UNSUBSCRIBE_URL }).unsubscribeLinkPresent).toBe(
        true,
      );
    });

    it('does not count the URL in plain text or a commented-out link', () => {
      const source = `<p>${UNSUBSCRIBE_URL}</p><!-- <a href="${UNSUBSCRIBE_URL}">u</a> -->`;
      const result = rewrite(source, { unsubscribeUrl: UNSUBSCRIBE_URL, footerHtml: FOOTER });
      expect(result.unsubscribeLinkPresent).toBe(false);
      expect(result.html).toBe(source + FOOTER);
    });

    it('is inserted at the end when there is no </body>', () => {
      expect(rewrite('<p>Hi</p>', { footerHtml: FOOTER }).html).toBe(`<p>Hi</p>${FOOTER}`);
    });

    it('rewrites other links but never the unsubscribe link it found', () => {
      const source = `<a href="https://shop.example/">shop</a> <a href="${UNSUBSCRIBE_URL}">u</a>`;
      const result = rewrite(source, { unsubscribeUrl: UNSUBSCRIBE_URL, footerHtml: FOOTER });
      expect(result.linksRewritten).toBe(1);
      expect(linkHrefs(result.html)).toEqual([clickUrl('https://shop.example/'), UNSUBSCRIBE_URL]);
    });
  });

  describe('malformed and hostile input', () => {
    it.each([
      ['a lone <', '<'],
      ['an unterminated tag', '<a href'],
      ['an unterminated attribute', '<a href="http://x.example/'],
      ['stray end tags', '</a></body></body></html></p>'],
      ['nested links', '<a href=http://a.example/><a href=http://b.example/>x</a></a>'],
      [
        'a link fostered out of a table',
        '<table><a href="http://t.example/">t</a><tr><td>x</td></tr></table>',
      ],
      ['a link in a select', '<select><a href="http://s.example/">s</a></select>'],
      ['a frameset', '<frameset><a href="http://f.example/">f</a></frameset></body>'],
      [
        'SVG and MathML links',
        '<svg><a href="http://svg.example/">s</a></svg><math><a href="http://m.example/">m</a></math>',
      ],
      ['NULs and lone surrogates', '<a href="http://x.example/\u0000">\ud800</a>\u0000</body>'],
      ['a byte-order mark', '\ufeff<a href="http://x.example/">x</a>'],
      ['deep nesting', '<div>'.repeat(5_000) + '<a href="http://deep.example/">x</a>'],
    ])('handles %s without throwing', (_label, source) => {
      const result = rewrite(source, { pixelUrl: PIXEL_URL, footerHtml: FOOTER });
      expect(result.html).toContain(FOOTER + PIXEL_TAG);
    });

    it('never throws, and changes nothing without options, for arbitrary strings', () => {
      const htmlish = fc
        .array(
          fc.oneof(
            fc.string({ unit: 'binary', maxLength: 8 }),
            fc.constantFrom(
              '<a href="http://x.example/">',
              '</a>',
              '<body>',
              '</body>',
              '<!--',
              '-->',
            ),
            fc.constantFrom(
              '<table>',
              '<td>',
              '<script>',
              '</script>',
              '<svg>',
              '&amp;',
              '"',
              "'",
              '=',
            ),
          ),
          { maxLength: 30 },
        )
        .map((parts) => parts.join(''));
      fc.assert(
        fc.property(htmlish, (source) => {
          rewrite(source, {
            pixelUrl: PIXEL_URL,
            footerHtml: FOOTER,
            unsubscribeUrl: UNSUBSCRIBE_URL,
          });
          expect(rewriteHtmlForTracking(source, {}).html).toBe(source);
        }),
        { numRuns: 500 },
      );
    });
  });

  describe('properties', () => {
    type Piece =
      | { type: 'text'; text: string }
      | { type: 'link'; url: string; label: string; quote: '"' | "'"; amp: string };

    const escapeText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const piece: fc.Arbitrary<Piece> = fc.oneof(
      fc.record({ type: fc.constant('text' as const), text: fc.string({ maxLength: 20 }) }),
      fc.record({
        type: fc.constant('link' as const),
        url: fc.oneof(
          { weight: 4, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
          fc.constantFrom('mailto:a@b.example', 'tel:+123', '#top', '/relative?a=1&b=2'),
        ),
        label: fc.string({ maxLength: 10 }),
        quote: fc.constantFrom('"' as const, "'" as const),
        amp: fc.constantFrom('&amp;', '&#38;', '&#x26;'),
      }),
    );
    const toHtml = (pieces: Piece[]) =>
      pieces
        .map((p) => {
          if (p.type === 'text') return escapeText(p.text);
          const value = p.url.replace(/&/g, p.amp).replace(/"/g, '&quot;').replace(/'/g, '&#39;');
          return `<a href=${p.quote}${value}${p.quote}>${escapeText(p.label)}</a>`;
        })
        .join('');

    it('keeps every http(s) URL recoverable, other links as they were, and the text unchanged', () => {
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 12 }), fc.boolean(), (pieces, wrap) => {
          const source = wrap ? `<html><body>${toHtml(pieces)}</body></html>` : toHtml(pieces);
          const { html, linksRewritten } = rewrite(source, { pixelUrl: PIXEL_URL });

          const links = pieces.filter((p) => p.type === 'link');
          const hrefs = linkHrefs(html);
          expect(hrefs).toHaveLength(links.length);
          links.forEach((link, i) => {
            const tracked = /^https?:\/\//i.test(link.url);
            expect(tracked ? decodeClick(hrefs[i]) : hrefs[i]).toBe(link.url);
          });
          expect(linksRewritten).toBe(links.filter((l) => /^https?:/i.test(l.url)).length);
          expect(textContent(html)).toBe(textContent(source));
          expect(withHrefsMasked(html).replace(PIXEL_TAG, '')).toBe(withHrefsMasked(source));
        }),
        { numRuns: 300 },
      );
    });
  });
});
