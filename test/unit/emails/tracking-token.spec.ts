import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  isTrackableHttpUrl,
  MAX_TRACKING_TOKEN_LENGTH,
  TrackingTokenKind,
  TrackingTokenPayload,
  TrackingTokenSigner,
} from 'src/modules/emails/tracking/tracking-token';

const SECRET = 'unit-test-tracking-secret-0123456789abcdef';
const MESSAGE_ID = '0b9d6a3e-8f0e-4c47-9a55-2f5e3c1d7b10';
const KINDS: TrackingTokenKind[] = ['open', 'click', 'unsubscribe'];
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function payloadFor(kind: TrackingTokenKind): TrackingTokenPayload {
  return kind === 'click'
    ? { kind, messageId: MESSAGE_ID, url: 'https://shop.example/sale?utm_source=mail#top' }
    : { kind, messageId: MESSAGE_ID };
}

/**
 * A token with a genuine MAC over an arbitrary payload, built from the documented wire format:
 * what an attacker who knew the secret could send, used to check verify's payload validation.
 */
function signRaw(payload: unknown): string {
  return signText(JSON.stringify(payload));
}

function signText(text: string): string {
  const body = Buffer.from(text, 'utf8').toString('base64url');
  const mac = createHmac('sha256', SECRET)
    .update('email-sender/tracking-token/v1\n')
    .update(body)
    .digest()
    .subarray(0, 16);
  return `${body}.${mac.toString('base64url')}`;
}

function replaceCharAt(token: string, index: number): string {
  const current = token[index];
  const replacement = BASE64URL[(BASE64URL.indexOf(current) + 1) % BASE64URL.length];
  return token.slice(0, index) + (current === '.' ? 'A' : replacement) + token.slice(index + 1);
}

describe(TrackingTokenSigner.name, () => {
  const signer = new TrackingTokenSigner(SECRET);

  describe('constructor', () => {
    it('refuses an empty secret', () => {
      expect(() => new TrackingTokenSigner('')).toThrow(TypeError);
    });
  });

  describe('sign', () => {
    it.each(KINDS)('produces a URL-safe %s token with a 22-character MAC', (kind) => {
      expect(signer.sign(payloadFor(kind))).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    });

    it('keeps an open token for a UUID message id short', () => {
      expect(signer.sign({ kind: 'open', messageId: MESSAGE_ID }).length).toBeLessThan(90);
    });

    it('is deterministic for the same payload', () => {
      expect(signer.sign(payloadFor('click'))).toBe(signer.sign(payloadFor('click')));
    });

    it.each([
      ['no URL', undefined],
      ['a javascript: URL', 'javascript:alert(1)'],
      ['a relative URL', '/account'],
      ['a mailto: URL', 'mailto:ann@example.com'],
      ['a URL with a line break', 'https://shop.example/\r\nSet-Cookie: x=1'],
    ])('refuses a click token with %s', (_label, url) => {
      expect(() => signer.sign({ kind: 'click', messageId: MESSAGE_ID, url })).toThrow(TypeError);
    });

    it.each(['open', 'unsubscribe'] as const)('refuses a URL on a %s token', (kind) => {
      expect(() => signer.sign({ kind, messageId: MESSAGE_ID, url: 'https://x.example/' })).toThrow(
        TypeError,
      );
    });

    it('refuses an empty message id', () => {
      expect(() => signer.sign({ kind: 'open', messageId: '' })).toThrow(TypeError);
    });

    it('refuses an unknown kind', () => {
      expect(() => signer.sign({ kind: 'bounce' as TrackingTokenKind, messageId: 'm' })).toThrow(
        TypeError,
      );
    });

    it('refuses to produce a token longer than the verify limit', () => {
      const url = `https://shop.example/?q=${'a'.repeat(MAX_TRACKING_TOKEN_LENGTH)}`;
      expect(() => signer.sign({ kind: 'click', messageId: MESSAGE_ID, url })).toThrow(RangeError);
    });
  });

  describe('verify', () => {
    it.each(KINDS)('returns the payload of a %s token it signed', (kind) => {
      const payload = payloadFor(kind);
      expect(signer.verify(signer.sign(payload), kind)).toStrictEqual(payload);
    });

    it('returns null when any single character of the token is changed', () => {
      const token = signer.sign(payloadFor('click'));
      for (let i = 0; i < token.length; i++) {
        expect(signer.verify(replaceCharAt(token, i), 'click')).toBeNull();
      }
    });

    it('returns null for every truncation of the token', () => {
      const token = signer.sign(payloadFor('click'));
      for (let length = 0; length < token.length; length++) {
        expect(signer.verify(token.slice(0, length), 'click')).toBeNull();
      }
    });

    it('returns null when the MAC is moved onto another payload', () => {
      const [, mac] = signer.sign({ kind: 'open', messageId: 'message-a' }).split('.');
      const [body] = signer.sign({ kind: 'open', messageId: 'message-b' }).split('.');
      expect(signer.verify(`${body}.${mac}`, 'open')).toBeNull();
    });

    it('returns null for a non-canonical spelling of the MAC', () => {
      // 22 base64url characters carry 132 bits: the last character has 4 unused low bits.
      const token = signer.sign(payloadFor('open'));
      const last = token[token.length - 1];
      const respelled = token.slice(0, -1) + BASE64URL[BASE64URL.indexOf(last) ^ 1];
      const macOf = (t: string) => Buffer.from(t.split('.')[1], 'base64url');
      expect(macOf(respelled)).toEqual(macOf(token));
      expect(signer.verify(respelled, 'open')).toBeNull();
    });

    it.each(
      KINDS.flatMap((signed) =>
        KINDS.filter((k) => k !== signed).map((asked) => [signed, asked] as const),
      ),
    )('returns null for a %s token verified as %s', (signed, asked) => {
      expect(signer.verify(signer.sign(payloadFor(signed)), asked)).toBeNull();
    });

    it('returns null for a token signed under another secret', () => {
      const other = new TrackingTokenSigner(`${SECRET}-rotated`);
      expect(signer.verify(other.sign(payloadFor('open')), 'open')).toBeNull();
    });

    it('accepts a well-formed token built from the documented format', () => {
      expect(signer.verify(signRaw(['u', MESSAGE_ID]), 'unsubscribe')).toStrictEqual({
        kind: 'unsubscribe',
        messageId: MESSAGE_ID,
      });
    });

    it.each([
      ['a javascript: URL', ['c', MESSAGE_ID, 'javascript:alert(document.cookie)']],
      ['a data: URL', ['c', MESSAGE_ID, 'data:text/html,<script>alert(1)</script>']],
      ['a scheme-relative URL', ['c', MESSAGE_ID, '//evil.example/']],
      ['a URL with a line break', ['c', MESSAGE_ID, 'https://x.example/\r\nLocation: y']],
      ['no URL', ['c', MESSAGE_ID]],
      ['a non-string URL', ['c', MESSAGE_ID, 42]],
    ])('returns null for a correctly MACed click token with %s', (_label, fields) => {
      expect(signer.verify(signRaw(fields), 'click')).toBeNull();
    });

    it.each([
      ['not JSON', 'not json'],
      ['an object instead of an array', { k: 'o', m: MESSAGE_ID }],
      ['an unknown kind code', ['x', MESSAGE_ID]],
      ['an empty message id', ['o', '']],
      ['a numeric message id', ['o', 7]],
      ['a URL on an open token', ['o', MESSAGE_ID, 'https://x.example/']],
      ['extra fields', ['o', MESSAGE_ID, 'https://x.example/', 'extra']],
      ['an empty array', []],
    ])('returns null for a correctly MACed token holding %s', (_label, fields) => {
      const token = typeof fields === 'string' ? signText(fields) : signRaw(fields);
      expect(signer.verify(token, 'open')).toBeNull();
    });

    it('returns null for a correctly MACed token longer than the limit', () => {
      const url = `https://shop.example/?q=${'a'.repeat(MAX_TRACKING_TOKEN_LENGTH)}`;
      expect(signer.verify(signRaw(['c', MESSAGE_ID, url]), 'click')).toBeNull();
    });

    it.each([
      ['an empty string', ''],
      ['a lone dot', '.'],
      ['two dots', '..'],
      ['no MAC', 'abc'],
      ['an empty MAC', 'abc.'],
      ['an empty payload', '.abc'],
      ['three parts', 'a.b.c'],
      ['a JWT-looking prefix', 'eyJ.eyJ'],
      ['an all-zero MAC', `${'A'.repeat(30)}.${'A'.repeat(22)}`],
      ['base64 padding', `${'A'.repeat(30)}.${'A'.repeat(22)}=`],
      ['embedded whitespace', `${'A'.repeat(30)} .${'A'.repeat(22)}`],
      ['10 000 characters', 'x'.repeat(10_000)],
      ['a percent escape', '%00'],
      ['a NUL', '\u0000'],
      ['emoji', '😀.😀'],
    ])('returns null for %s', (_label, token) => {
      expect(signer.verify(token, 'open')).toBeNull();
    });

    it.each([null, undefined, 42, {}, ['a.b']])('returns null for the non-string %j', (token) => {
      expect(signer.verify(token as unknown as string, 'open')).toBeNull();
    });

    it('round-trips any http(s) URL and message id', () => {
      fc.assert(
        fc.property(
          fc.webUrl({ withQueryParameters: true, withFragments: true }),
          fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 80, unit: 'binary' })),
          (url, messageId) => {
            const payload: TrackingTokenPayload = { kind: 'click', messageId, url };
            expect(signer.verify(signer.sign(payload), 'click')).toStrictEqual(payload);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('round-trips open and unsubscribe tokens for any message id', () => {
      fc.assert(
        fc.property(
          fc.constantFrom<TrackingTokenKind>('open', 'unsubscribe'),
          fc.string({ minLength: 1, maxLength: 200, unit: 'binary' }),
          (kind, messageId) => {
            expect(signer.verify(signer.sign({ kind, messageId }), kind)).toStrictEqual({
              kind,
              messageId,
            });
          },
        ),
      );
    });

    it('returns null, without throwing, for arbitrary strings', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ unit: 'binary' }),
            fc.string({ unit: fc.constantFrom(...BASE64URL, '.') }),
          ),
          fc.constantFrom(...KINDS),
          (token, kind) => {
            expect(signer.verify(token, kind)).toBeNull();
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});

describe(isTrackableHttpUrl.name, () => {
  it.each([
    ['https://shop.example/a?b=1#c', true],
    ['HTTP://SHOP.EXAMPLE/', true],
    ['https://bücher.example/straße', true],
    ['http:shop.example', false],
    ['//shop.example/', false],
    ['/relative', false],
    ['ftp://files.example/', false],
    ['javascript:alert(1)', false],
    ['https://', false],
    ['https://shop.example/\u0000', false],
  ])('classifies %j as %s', (url, expected) => {
    expect(isTrackableHttpUrl(url)).toBe(expected);
  });
});
