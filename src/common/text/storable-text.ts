/**
 * PostgreSQL stores neither U+0000 (in text or jsonb) nor an unpaired UTF-16 surrogate in jsonb
 * (JSON.stringify writes one as a `\udXXX` escape, which jsonb refuses). Both reach us only
 * through JSON `\u` escapes or `%00` in a URL: no real address, subject or template has them.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is the character in question
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** JSON text that may decode to such a character: a `\u0000` or surrogate escape. */
const SUSPECT_JSON_ESCAPE = /\\u(?:0000|d[89a-f])/i;

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The path (`recipients.3.to`, `variables.<key>`) of the first string or key in a parsed JSON or
 * form body that PostgreSQL cannot store, or null. Iterative: a deeply nested body cannot
 * overflow the stack here.
 */
export function findUnstorableText(value: unknown): string | null {
  const pending: Array<[unknown, string]> = [[value, '']];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [v, path] = item;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return path || 'body';
      continue;
    }
    if (!isContainer(v)) continue;
    for (const [k, child] of Object.entries(v)) {
      const childPath = path ? `${path}.${k}` : k;
      if (UNSTORABLE.test(k)) return childPath;
      pending.push([child, childPath]);
    }
  }
  return null;
}

/** The string with every such character replaced by U+FFFD. */
export function toStorableString(value: string): string {
  return value.replace(UNSTORABLE_ALL, '\ufffd');
}

/** A copy with every such character, in values and keys, replaced by U+FFFD. */
export function toStorableText(value: unknown): unknown {
  if (typeof value === 'string') return toStorableString(value);
  if (Array.isArray(value)) return value.map(toStorableText);
  if (!isContainer(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [k, child] of Object.entries(value)) {
    // defineProperty: a `__proto__` key stays an own property, as JSON.parse made it.
    Object.defineProperty(copy, toStorableString(k), {
      value: toStorableText(child),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** Whether JSON text may hold a character that `toStorableText` would replace. */
export function mayHoldUnstorableText(json: string): boolean {
  return SUSPECT_JSON_ESCAPE.test(json);
}

const BACKSLASH_U = Buffer.from('\\u');
const ZEROS = Buffer.from('0000');

/**
 * The same for a raw JSON or form body, without decoding it: a `\u0000` or surrogate escape,
 * or `%00`. Raw bytes cannot carry either character (JSON.parse refuses a raw U+0000, and
 * UTF-8 decoding turns invalid sequences into U+FFFD), so a body without them needs no walk.
 */
export function mayHoldUnstorableBytes(body: Buffer): boolean {
  for (let i = body.indexOf(BACKSLASH_U); i !== -1; i = body.indexOf(BACKSLASH_U, i + 2)) {
    const a = body[i + 2] | 0x20; // lower-cases A-F and D, leaves digits as they are
    const b = body[i + 3] | 0x20;
    if (a === 0x64 && (b === 0x38 || b === 0x39 || (b >= 0x61 && b <= 0x66))) return true;
    if (body.subarray(i + 2, i + 6).equals(ZEROS)) return true;
  }
  return body.includes('%00');
}
