import fc from 'fast-check';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { idCursor, keysetCursor } from 'src/common/pagination/keyset-cursor';
import { PG_BIGINT_MAX, PG_INTEGER_MAX } from 'src/common/validation/db-int';

const b64 = (s: string): string => Buffer.from(s).toString('base64url');

/** The answer a client gets for a cursor the codec refuses. */
function refusal(decode: () => unknown): {
  status: number;
  body: ReturnType<typeof toErrorBody>['body'];
} {
  try {
    decode();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationFailedError);
    return toErrorBody(err, 'req-1');
  }
  throw new Error('the cursor was accepted');
}

describe('keyset cursor codec', () => {
  const messages = idCursor('bigint', { prefix: 'm:' });
  const templates = idCursor('integer');
  const reports = idCursor('integer', { encoding: 'plain' });

  describe('round trip', () => {
    it('integer ids', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: PG_INTEGER_MAX }), (id) => {
          expect(templates.decode(templates.encode(id))).toBe(id);
          expect(reports.decode(reports.encode(id))).toBe(id);
        }),
      );
    });

    it('bigint ids, beyond 2^53, as decimal text', () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 1n, max: PG_BIGINT_MAX }), (id) => {
          expect(messages.decode(messages.encode(id.toString()))).toBe(id.toString());
        }),
      );
    });

    it('a composite key through a list-defined format', () => {
      const codec = keysetCursor<{ at: string; id: number }>({
        write: (k) => JSON.stringify([k.at, k.id]),
        read: (text) => {
          const v: unknown = JSON.parse(text);
          return Array.isArray(v) && typeof v[0] === 'string' && Number.isInteger(v[1])
            ? { at: v[0], id: v[1] as number }
            : null;
        },
      });
      const key = { at: '2026-01-01T00:00:00.000123Z', id: 42 };
      expect(codec.decode(codec.encode(key))).toEqual(key);
    });
  });

  it('keeps the formats clients already hold (messages, templates, reports)', () => {
    expect(messages.encode('17')).toBe(b64('m:17'));
    expect(templates.encode(17)).toBe(b64('17'));
    expect(reports.encode(17)).toBe('17');
    expect(messages.decode(b64('m:9223372036854775807'))).toBe('9223372036854775807');
    expect(templates.decode(b64(String(PG_INTEGER_MAX)))).toBe(PG_INTEGER_MAX);
  });

  it.each([
    ['garbage', () => messages.decode('garbage!')],
    ['an empty cursor', () => templates.decode('')],
    ['base64 of text that is no key', () => templates.decode(b64('not-a-cursor'))],
    ["another list's cursor", () => templates.decode(messages.encode('5'))],
    ['a cursor without its prefix', () => messages.decode(b64('5'))],
    ['a second spelling (leading zero)', () => templates.decode(b64('01'))],
    ['a second spelling (plain)', () => reports.decode('007')],
    ['a negative id', () => templates.decode(b64('-1'))],
    ['zero', () => reports.decode('0')],
    ['an over-long cursor', () => messages.decode('A'.repeat(300))],
  ])('answers 400 validation_error on `cursor` for %s', (_label, decode) => {
    const { status, body } = refusal(decode);
    expect(status).toBe(400);
    expect(body.error.code).toBe('validation_error');
    expect(body.error.details).toEqual([expect.objectContaining({ field: 'cursor' })]);
  });

  it.each([
    ['integer', () => templates.decode(b64('2147483648'))],
    ['integer (plain)', () => reports.decode('9999999999')],
    ['bigint', () => messages.decode(b64('m:9223372036854775808'))],
    ['bigint, 20 digits', () => messages.decode(b64('m:99999999999999999999'))],
  ])('answers 400 for an id out of range for its %s column', (_label, decode) => {
    expect(refusal(decode).status).toBe(400);
  });

  it('never throws anything but the 400 for arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.base64String()), (s) => {
        for (const codec of [messages, templates, reports]) {
          if (codec.isValid(s)) continue;
          expect(refusal(() => codec.decode(s)).status).toBe(400);
        }
      }),
    );
  });
});
