import { createHash } from 'node:crypto';
import { defaultTreeAdapter, parse, type DefaultTreeAdapterTypes } from 'parse5';

type Node = DefaultTreeAdapterTypes.Node;

/** More distinct inline styles than this and the rest stay blocked (the header stays small). */
export const MAX_PREVIEW_STYLE_HASHES = 64;

export interface PreviewStyles {
  /** CSP hash sources (`'sha256-…'`) of the email's `<style>` blocks and `style` attributes. */
  hashes: string[];
  /** Some inline styles were left out (over the limit): the preview may look plainer. */
  truncated: boolean;
}

const hashSource = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The sandboxed `srcdoc` preview inherits the page's Content-Security-Policy, which allows no
 * inline style. Rather than open `'unsafe-inline'` for the whole page, the message page allows
 * exactly the email's own styles by hash: the text of each `<style>` element and the value of
 * each `style` attribute (with `'unsafe-hashes'`), as the browser's HTML parser will see them
 * (parse5 runs the same WHATWG algorithm). Scripts stay forbidden twice over: by the policy and
 * by the iframe's empty `sandbox`.
 */
export function previewStyles(html: string): PreviewStyles {
  const found = new Set<string>();
  let truncated = false;
  const add = (text: string): void => {
    const source = hashSource(text);
    if (found.has(source)) return;
    if (found.size >= MAX_PREVIEW_STYLE_HASHES) truncated = true;
    else found.add(source);
  };
  // Iterative: deeply nested (or hostile) markup must not overflow the call stack.
  const pending: Node[] = [parse(html)];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (!('childNodes' in node)) continue;
    for (const child of node.childNodes) pending.push(child);
    if (!defaultTreeAdapter.isElementNode(node)) continue;
    const style = node.attrs.find((a) => a.name === 'style');
    if (style) add(style.value);
    if (node.tagName === 'style') {
      add(node.childNodes.map((c) => (defaultTreeAdapter.isTextNode(c) ? c.value : '')).join(''));
    }
  }
  return { hashes: [...found], truncated };
}

/** Attributes that make a browser fetch (or pre-connect to) the URL they hold. */
const FETCHING_ATTRIBUTES = new Set([
  'src',
  'srcset',
  'lowsrc',
  'dynsrc',
  'background',
  'poster',
  'data',
  'codebase',
  'archive',
  'longdesc',
  'manifest',
  'ping',
  'action',
  'formaction',
  'xlink:href',
]);
/** Elements whose `href` is fetched (`<a>` and `<area>` only navigate, on a click). */
const FETCHING_HREF_ELEMENTS = new Set(['link', 'base', 'image', 'use', 'feimage']);
/** Elements dropped whole: they fetch, pre-connect or navigate by themselves. */
const DROPPED_ELEMENTS = new Set(['link', 'base', 'object', 'embed', 'applet', 'portal']);
/** URLs that never leave the page: inline data and the message's own parts. */
const LOCAL_URL = /^\s*(?:data|cid):/i;
const CSS_REMOTE_URL = /url\(\s*(['"]?)(?!\s*(?:data|cid):)[^)]*\1\s*\)/gi;
const CSS_IMPORT = /@import\b[^;]*;?/gi;

/** CSS with every remote `url(…)` and `@import` taken out. */
function localCss(css: string): string {
  return css.replace(CSS_IMPORT, '').replace(CSS_REMOTE_URL, 'none');
}

/**
 * The email's HTML as the dashboard previews it: nothing in it can reach the network. The
 * frame's empty `sandbox` and the page's Content-Security-Policy already refuse remote images,
 * scripts and styles, but Chromium still starts (and reports) speculative requests for the
 * image URLs its preload scanner finds before the inherited policy applies — a remote image or
 * the open-tracking pixel could then be fetched merely because an operator looked at the
 * message. So every URL that a browser would fetch by itself is removed before the HTML is
 * sent: fetching attributes (`src`, `srcset`, `background`, `poster`, …) unless they hold a
 * `data:`/`cid:` URL, `<link>`/`<base>`/`<object>`/`<embed>` elements, `<meta http-equiv>`
 * (refresh, policies), and remote `url()`/`@import` in CSS. Links stay (a click in the
 * sandboxed frame goes nowhere: `frame-src 'none'`). See README, "Dashboard".
 */
export function previewHtml(html: string): string {
  const document = parse(html);
  const pending: Node[] = [document];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (!('childNodes' in node)) continue;
    node.childNodes = node.childNodes.filter((child) => {
      if (!defaultTreeAdapter.isElementNode(child)) return true;
      if (DROPPED_ELEMENTS.has(child.tagName)) return false;
      if (child.tagName === 'meta' && child.attrs.some((a) => a.name === 'http-equiv')) {
        return false;
      }
      return true;
    });
    for (const child of node.childNodes) pending.push(child);
    if (defaultTreeAdapter.isElementNode(node)) {
      node.attrs = node.attrs
        .filter((a) => {
          const name = a.prefix ? `${a.prefix}:${a.name}` : a.name;
          const fetching =
            FETCHING_ATTRIBUTES.has(name) ||
            (name === 'href' && FETCHING_HREF_ELEMENTS.has(node.tagName));
          return !fetching || (name !== 'srcset' && LOCAL_URL.test(a.value));
        })
        .map((a) => (a.name === 'style' ? { ...a, value: localCss(a.value) } : a));
      if (node.tagName === 'style') {
        for (const text of node.childNodes) {
          if (defaultTreeAdapter.isTextNode(text)) text.value = localCss(text.value);
        }
      }
    }
  }
  return serializeIteratively(document);
}

const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'basefont',
  'bgsound',
  'br',
  'col',
  'embed',
  'frame',
  'hr',
  'img',
  'input',
  'keygen',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);
/** Their text children are serialized as they are (the WHATWG fragment serialization rule). */
const RAW_TEXT_ELEMENTS = new Set([
  'style',
  'script',
  'xmp',
  'iframe',
  'noembed',
  'noframes',
  'plaintext',
  'noscript',
]);
const escapeText = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/\u00a0/g, '&nbsp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
const escapeAttribute = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/\u00a0/g, '&nbsp;')
    .replace(/"/g, '&quot;');

/**
 * The WHATWG HTML serialization of a parsed document, without recursion: parse5's own
 * serializer recurses once per nesting level and overflows the stack on hostile markup.
 */
function serializeIteratively(document: Node): string {
  const out: string[] = [];
  type Step = Node | { close: string };
  const children = (node: Node): Node[] => {
    if (defaultTreeAdapter.isElementNode(node) && node.tagName === 'template') {
      return defaultTreeAdapter.getTemplateContent(node as DefaultTreeAdapterTypes.Template)
        .childNodes;
    }
    return 'childNodes' in node ? node.childNodes : [];
  };
  const steps: Step[] = [...children(document)].reverse();
  for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
    if ('close' in step) {
      out.push(step.close);
      continue;
    }
    const node = step;
    if (defaultTreeAdapter.isElementNode(node)) {
      const attrs = node.attrs
        .map((a) => ` ${a.prefix ? `${a.prefix}:` : ''}${a.name}="${escapeAttribute(a.value)}"`)
        .join('');
      out.push(`<${node.tagName}${attrs}>`);
      if (VOID_ELEMENTS.has(node.tagName)) continue;
      steps.push({ close: `</${node.tagName}>` });
      const inner = children(node);
      for (let i = inner.length - 1; i >= 0; i--) steps.push(inner[i]);
    } else if (defaultTreeAdapter.isTextNode(node)) {
      const parent = node.parentNode;
      const raw =
        parent !== null &&
        defaultTreeAdapter.isElementNode(parent) &&
        RAW_TEXT_ELEMENTS.has(parent.tagName);
      out.push(raw ? node.value : escapeText(node.value));
    } else if (defaultTreeAdapter.isCommentNode(node)) {
      out.push(`<!--${node.data}-->`);
    } else if (defaultTreeAdapter.isDocumentTypeNode(node)) {
      out.push(`<!DOCTYPE ${node.name}>`);
    }
  }
  return out.join('');
}
