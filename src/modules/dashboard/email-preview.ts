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
