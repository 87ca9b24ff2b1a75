import fc from 'fast-check';
import {
  findUnstorableText,
  mayHoldUnstorableBytes,
  mayHoldUnstorableText,
  toStorableString,
  toStorableText,
} from 'src/common/text/storable-text';
import { hostileJson } from 'test/utils/fuzz';

/**
 * The guard between client text and PostgreSQL (U+0000 and lone surrogates, which text and
 * jsonb refuse): found wherever they hide in a parsed body, replaced without touching
 * anything else, and flagged in raw JSON text whenever parsing could produce them.
 */

/** Any JSON value, parsed the way body-parser does (own `__proto__` keys included). */
const parsedJson = hostileJson(4).map((text) => ({ text, value: JSON.parse(text) as unknown }));

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  }
  return out;
}

/** An independent oracle: UTF-8 round trip (lone surrogates → U+FFFD), then U+0000 → U+FFFD. */
const fix = (s: string): string =>
  Buffer.from(s, 'utf8').toString('utf8').replaceAll('\u0000', '\ufffd');

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return fix(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (!value || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, fix(k), {
      value: wellFormed(v),
      enumerable: true,
      configurable: true,
    });
  }
  return out;
}

const isWellFormed = (s: string): boolean =>
  !s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s;

describe('storable text (fuzz)', () => {
  it('finds a problem exactly when some key or string holds U+0000 or a lone surrogate', () => {
    fc.assert(
      fc.property(parsedJson, ({ value }) => {
        const bad = strings(value).some((s) => !isWellFormed(s));
        expect(findUnstorableText(value) !== null).toBe(bad);
      }),
      { numRuns: 400 },
    );
  });

  it('makes any value storable, changes nothing else, and keeps own __proto__ keys', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).join();
    fc.assert(
      fc.property(parsedJson, ({ value }) => {
        const clean = toStorableText(value);
        expect(findUnstorableText(clean)).toBeNull();
        // Same shape, every other character kept.
        expect(JSON.stringify(clean)).toBe(JSON.stringify(wellFormed(value)));
        if (findUnstorableText(value) === null) expect(clean).toEqual(value);
      }),
      { numRuns: 400 },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).join()).toBe(before);
  });

  it('flags raw JSON text and bytes whenever parsing them can give such a character', () => {
    fc.assert(
      fc.property(parsedJson, fc.boolean(), ({ text, value }, upper) => {
        // Escapes may be written in either case (\uD800 as well as \ud800).
        const raw = upper
          ? text.replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\u${h.toUpperCase()}`)
          : text;
        if (findUnstorableText(value) === null) return;
        expect(mayHoldUnstorableText(raw)).toBe(true);
        expect(mayHoldUnstorableBytes(Buffer.from(raw, 'utf8'))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('replaces each bad code unit with one U+FFFD and leaves surrogate pairs alone', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.constantFrom('\u0000', '\ud800', '\udfff'),
        fc.nat(),
        (s, bad, at) => {
          const i = at % (s.length + 1);
          const dirty = s.slice(0, i) + bad + s.slice(i);
          const clean = toStorableString(dirty);
          expect(isWellFormed(clean)).toBe(true);
          expect(clean.length).toBe(dirty.length);
          expect(toStorableString(s)).toBe(s.replaceAll('\u0000', '\ufffd'));
        },
      ),
      { numRuns: 300 },
    );
  });
});
