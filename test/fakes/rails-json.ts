/**
 * JSON as Rails' `to_json` writes it (ActiveSupport::JSON with escape_html_entities_in_json):
 * compact, with `<`, `>`, `&` escaped as `\u003c`, `\u003e`, `\u0026` and U+2028/U+2029 as
 * `\u2028`/`\u2029`. Postal serialises webhook bodies this way and signs those exact bytes.
 */
const RAILS_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

export function railsJson(value: unknown): string {
  // These characters can only occur inside JSON strings, so replacing them textually is safe.
  return (JSON.stringify(value) ?? 'null').replace(/[<>&\u2028\u2029]/g, (c) => RAILS_ESCAPES[c]);
}
