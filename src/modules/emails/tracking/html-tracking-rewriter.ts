import {
  defaultTreeAdapter,
  ErrorCodes,
  html as parse5Html,
  parse,
  type DefaultTreeAdapterMap,
  type DefaultTreeAdapterTypes,
  type Token,
  type TreeAdapter,
} from 'parse5';
import { isTrackableHttpUrl, parsesAsUrl } from 'src/modules/emails/tracking/tracking-token';

type Element = DefaultTreeAdapterTypes.Element;
type Node = DefaultTreeAdapterTypes.Node;

export interface TrackingRewriteOptions {
  /**
   * The tracked replacement for a link's URL, or null to leave that link as it is (e.g. a URL
   * too long to sign). Undefined: no link is touched.
   */
  clickUrl?: (originalUrl: string) => string | null;
  pixelUrl?: string;
  unsubscribeUrl?: string;
  /** Trusted HTML, inserted when the document has no link to `unsubscribeUrl`. */
  footerHtml?: string;
}

export interface TrackingRewriteResult {
  html: string;
  linksRewritten: number;
  unsubscribeLinkPresent: boolean;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

interface Link {
  element: Element;
  /** The URL a browser would follow: entity-decoded by the parser, then URL-trimmed. */
  url: string;
  hrefLocation: Token.Location | undefined;
}

const LINK_TAGS = new Set(['a', 'area']);

/**
 * Adds click tracking, the open pixel and the unsubscribe footer to an HTML body.
 *
 * parse5 (the WHATWG parsing algorithm, as a browser runs it) only locates things: the href
 * attributes to replace and the `</body>` to insert before. The output is the input string
 * with those spans spliced, so every other byte of the author's markup is kept as written,
 * which a parse-and-serialize round trip would not do.
 */
export function rewriteHtmlForTracking(
  html: string,
  opts: TrackingRewriteOptions,
): TrackingRewriteResult {
  let endSwallowed = false;
  const document = parse(html, {
    sourceCodeLocationInfo: true,
    // Mail clients never run scripts, so <noscript> content is markup that gets shown.
    scriptingEnabled: false,
    treeAdapter: endTagRecordingTreeAdapter,
    onParseError: (error) => {
      if (EOF_SWALLOWS.has(error.code)) endSwallowed = true;
    },
  });

  const edits: Edit[] = [];
  const rewritten = new Set<number>();
  let unsubscribeLinkPresent = false;
  for (const link of findLinks(document)) {
    if (opts.unsubscribeUrl !== undefined && isSameUrl(link.url, opts.unsubscribeUrl)) {
      unsubscribeLinkPresent = true;
      continue;
    }
    const location = link.hrefLocation;
    // A location-less element is a copy the parser made while repairing misnested markup;
    // the original, which owns the source span, is visited as well.
    if (!opts.clickUrl || !location || rewritten.has(location.startOffset)) continue;
    if (link.element.attrs.some((a) => a.name === 'data-no-track')) continue;
    if (!isTrackableHttpUrl(link.url)) continue;
    const tracked = opts.clickUrl(link.url);
    if (tracked === null) continue;
    rewritten.add(location.startOffset);
    // Keep the attribute name as written (case included); `href` is four characters.
    const name = html.slice(location.startOffset, location.startOffset + 'href'.length);
    edits.push({
      start: location.startOffset,
      end: location.endOffset,
      text: `${name}="${escapeAttribute(tracked)}"`,
    });
  }

  let insertion = '';
  if (opts.footerHtml !== undefined && !unsubscribeLinkPresent) insertion += opts.footerHtml;
  if (opts.pixelUrl !== undefined) {
    insertion += `<img src="${escapeAttribute(opts.pixelUrl)}" width="1" height="1" alt="" style="display:none" />`;
  }
  if (insertion !== '') {
    const at =
      bodyEndOffset(document) ??
      // What is appended to a document that ends inside a comment, a <textarea>, <script>…
      // or a tag would be swallowed by it: put it at the start of the body instead.
      (endSwallowed || hasOpenSwallowingElement(document)
        ? bodyStartOffset(document, html)
        : html.length);
    edits.push({ start: at, end: at, text: insertion });
  }

  return { html: applyEdits(html, edits), linksRewritten: rewritten.size, unsubscribeLinkPresent };
}

/**
 * parse5 records where `</body>` / `</html>` were acted on only for elements that have a
 * location, and an implied `<body>` (no start tag in the source, common in mail HTML) gets
 * none. Giving implied `<html>`/`<body>` a placeholder location lets parse5 record their end
 * tags; nothing else in the tree is affected.
 */
const endTagRecordingTreeAdapter: TreeAdapter<DefaultTreeAdapterMap> = {
  ...defaultTreeAdapter,
  setNodeSourceCodeLocation(node, location) {
    const implied =
      location === null &&
      defaultTreeAdapter.isElementNode(node) &&
      node.namespaceURI === parse5Html.NS.HTML &&
      (node.tagName === 'body' || node.tagName === 'html');
    defaultTreeAdapter.setNodeSourceCodeLocation(node, implied ? impliedLocation() : location);
  },
};

function impliedLocation(): Token.ElementLocation {
  return { startLine: -1, startCol: -1, startOffset: -1, endLine: -1, endCol: -1, endOffset: -1 };
}

/** `<a href>` and `<area href>` elements in the rendered document (not in `<template>` content). */
function findLinks(document: DefaultTreeAdapterTypes.Document): Link[] {
  const links: Link[] = [];
  // Iterative: deeply nested (or hostile) markup must not overflow the call stack.
  const pending: Node[] = [document];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (!('childNodes' in node)) continue;
    for (let i = node.childNodes.length - 1; i >= 0; i--) pending.push(node.childNodes[i]);
    if (!defaultTreeAdapter.isElementNode(node)) continue;
    if (node.namespaceURI !== parse5Html.NS.HTML || !LINK_TAGS.has(node.tagName)) continue;
    const href = node.attrs.find((a) => a.name === 'href');
    if (!href) continue;
    links.push({
      element: node,
      url: urlAsBrowserReadsIt(href.value),
      hrefLocation: node.sourceCodeLocation?.attrs?.href,
    });
  }
  return links;
}

/** Offset of the `</body>` (failing that, `</html>`) end tag the parser acted on, if any. */
function bodyEndOffset(document: DefaultTreeAdapterTypes.Document): number | undefined {
  const root = document.childNodes.find(
    (n): n is Element => defaultTreeAdapter.isElementNode(n) && n.tagName === 'html',
  );
  const body = root?.childNodes.find(
    (n): n is Element => defaultTreeAdapter.isElementNode(n) && n.tagName === 'body',
  );
  return (
    body?.sourceCodeLocation?.endTag?.startOffset ?? root?.sourceCodeLocation?.endTag?.startOffset
  );
}

/** Parse errors at the end of input after which appended markup would not be markup. */
const EOF_SWALLOWS = new Set<string>([
  ErrorCodes.eofInComment,
  ErrorCodes.eofInTag,
  ErrorCodes.eofInCdata,
  ErrorCodes.eofInDoctype,
  ErrorCodes.eofInScriptHtmlCommentLikeText,
  ErrorCodes.eofInElementThatCanContainOnlyText,
]);

/** Elements that, once open, keep what follows from being rendered until they are closed. */
const SWALLOWING_ELEMENTS = new Set(['plaintext', 'select', 'template']);

/** Whether such an element was left open (its content runs to the end of the input). */
function hasOpenSwallowingElement(document: DefaultTreeAdapterTypes.Document): boolean {
  const pending: Node[] = [document];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (!('childNodes' in node)) continue;
    pending.push(...node.childNodes);
    if (
      defaultTreeAdapter.isElementNode(node) &&
      node.namespaceURI === parse5Html.NS.HTML &&
      SWALLOWING_ELEMENTS.has(node.tagName) &&
      node.sourceCodeLocation &&
      !node.sourceCodeLocation.endTag
    )
      return true;
  }
  return false;
}

/**
 * Where content can go first in the body: after `<body …>`, else after the doctype, comments
 * and whitespace that precede the document (what the parser keeps out of the body anyway).
 */
function bodyStartOffset(document: DefaultTreeAdapterTypes.Document, html: string): number {
  const root = document.childNodes.find(
    (n): n is Element => defaultTreeAdapter.isElementNode(n) && n.tagName === 'html',
  );
  const body = root?.childNodes.find(
    (n): n is Element => defaultTreeAdapter.isElementNode(n) && n.tagName === 'body',
  );
  const startTag = body?.sourceCodeLocation?.startTag;
  if (startTag && startTag.endOffset >= 0) return startTag.endOffset;
  let at = 0;
  for (const node of document.childNodes) {
    const end = node.sourceCodeLocation?.endOffset ?? 0;
    // Stop at the document, or at a comment running to the end (the one left open).
    if (node === root || end >= html.length) break;
    at = Math.max(at, end);
  }
  while (at < html.length && ' \t\n\f\r'.includes(html[at])) at++;
  return at;
}

/**
 * The WHATWG URL parser's first steps: strip leading and trailing C0 controls and spaces,
 * remove tabs and newlines anywhere. Entities are already decoded by the HTML parser.
 */
function urlAsBrowserReadsIt(value: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the characters the URL parser strips
  return value.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
}

/** Equal as written, or equal once both are normalized by the URL parser (host case, etc.). */
function isSameUrl(a: string, b: string): boolean {
  if (a === b) return true;
  if (!parsesAsUrl(a) || !parsesAsUrl(b)) return false;
  return new URL(a).href === new URL(b).href;
}

function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function applyEdits(source: string, edits: Edit[]): string {
  if (edits.length === 0) return source;
  // Spans never overlap (distinct attributes, and the insertion point sits at a tag start).
  const ordered = [...edits].sort((a, b) => a.start - b.start);
  const parts: string[] = [];
  let cursor = 0;
  for (const edit of ordered) {
    parts.push(source.slice(cursor, edit.start), edit.text);
    cursor = edit.end;
  }
  parts.push(source.slice(cursor));
  return parts.join('');
}
