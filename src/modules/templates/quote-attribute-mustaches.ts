/**
 * `<img alt={{name}}>`: Handlebars escapes `< > & " ' \` =` but not spaces, so a value such as
 * `x onerror=alert(1)` would add attributes to an unquoted attribute value. Before an HTML
 * template is compiled, every unquoted attribute value that holds a mustache is put in double
 * quotes (`alt="{{name}}"`): what the browser reads is the same for every value that was
 * already safe, and a value can no longer leave the attribute. The stored source is unchanged.
 */
export function quoteAttributeMustaches(html: string): string {
  if (!html.includes('{{')) return html;
  let out = '';
  let i = 0;
  let inTag = false;
  let quote: '"' | "'" | null = null;
  const n = html.length;

  /** End (exclusive) of the mustache starting at `at` (`{{…}}` or `{{{…}}}`), or n. */
  const mustacheEnd = (at: number): number => {
    const close = html.startsWith('{{{', at) ? '}}}' : '}}';
    const end = html.indexOf(close, at + 2);
    return end < 0 ? n : end + close.length;
  };

  while (i < n) {
    if (html.startsWith('{{', i)) {
      // Mustaches are copied whole: their insides may hold quotes, `<`, `>` or `=`.
      const end = mustacheEnd(i);
      out += html.slice(i, end);
      i = end;
      continue;
    }
    const c = html[i];
    if (!inTag) {
      if (html.startsWith('<!--', i)) {
        const end = html.indexOf('-->', i + 4);
        const stop = end < 0 ? n : end + 3;
        out += html.slice(i, stop);
        i = stop;
        continue;
      }
      if (c === '<' && /[A-Za-z]/.test(html[i + 1] ?? '')) inTag = true;
      out += c;
      i++;
      continue;
    }
    if (quote) {
      if (c === quote) quote = null;
      out += c;
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      inTag = false;
    } else if (c === '=') {
      out += c;
      i++;
      while (i < n && /[\t\n\f\r ]/.test(html[i])) out += html[i++];
      if (i < n && html[i] !== '"' && html[i] !== "'" && html[i] !== '>') {
        // An unquoted value: up to whitespace or `>`, mustaches taken whole.
        let value = '';
        let mustache = false;
        let literalQuote = false;
        while (i < n && !/[\t\n\f\r >]/.test(html[i])) {
          if (html.startsWith('{{', i)) {
            const end = mustacheEnd(i);
            value += html.slice(i, end);
            mustache = true;
            i = end;
          } else {
            if (html[i] === '"') literalQuote = true;
            value += html[i++];
          }
        }
        out += mustache && !literalQuote ? `"${value}"` : value;
      }
      continue;
    }
    out += c;
    i++;
  }
  return out;
}
