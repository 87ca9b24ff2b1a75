import { createHmac, generateKeyPairSync, KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { AppError } from 'src/common/errors/app-error';
import { httpStatusOf } from 'src/common/http/error-status';
import { findUnstorableText } from 'src/common/text/storable-text';
import { loadConfig } from 'src/config/app-config';
import { PostalJwksClient } from 'src/infra/postal/postal-signing-keys';
import { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import { parseEnvelope } from 'src/modules/webhooks/webhooks.service';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { hostileJson, hostileStringJson } from 'test/utils/fuzz';

/**
 * Properties of Postal webhook verification and envelope parsing: whatever was signed
 * verifies, any change to the signed bytes does not, and nothing a client sends makes either
 * throw anything but the one validation error.
 */

const HMAC_KEY = 'a-signing-proxy-secret';
type Method = 'rsa-sha256' | 'rsa-sha1' | 'hmac-sha256';
const METHODS: Method[] = ['rsa-sha256', 'rsa-sha1', 'hmac-sha256'];

/** Postal's bodies: Rails JSON text of any shape, or (for the verifier) any bytes at all. */
const body = fc.oneof(
  hostileJson(3).map((json) =>
    Buffer.from(json.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).map((s) => Buffer.from(s, 'utf8')),
);

describe('Postal webhook signatures (fuzz)', () => {
  let privateKey: KeyObject;
  let verifier: WebhookSignatureVerifier;

  beforeAll(() => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    const config = loadConfig({
      POSTAL_WEBHOOK_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      POSTAL_SIGNING_KEY: HMAC_KEY,
    });
    verifier = new WebhookSignatureVerifier(config, new PostalJwksClient(config));
  });

  function sign(raw: Buffer, method: Method): Record<string, string> {
    const postal = signPostalWebhook(raw, privateKey);
    if (method === 'rsa-sha256') return postal;
    if (method === 'rsa-sha1') return { 'X-Postal-Signature': postal['X-Postal-Signature'] };
    return { 'X-Postal-Signature': createHmac('sha256', HMAC_KEY).update(raw).digest('hex') };
  }

  /** The bytes a signature header decodes to: what the check compares. */
  const decoded = (method: Method, value: string): Buffer =>
    Buffer.from(value, method === 'hmac-sha256' ? 'hex' : 'base64');

  it('verifies any correctly signed body, by each method Postal or a proxy uses', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(...METHODS), async (raw, method) => {
        const result = await verifier.verify(raw, sign(raw, method));
        expect(result).toEqual(expect.objectContaining({ ok: true, method }));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a signed body changed by any single byte (flipped, dropped or added)', async () => {
    const mutation = fc.oneof(
      fc.record({
        op: fc.constant('flip' as const),
        at: fc.nat(),
        xor: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({ op: fc.constant('drop' as const), at: fc.nat(), xor: fc.constant(0) }),
      fc.record({ op: fc.constant('add' as const), at: fc.nat(), xor: fc.nat({ max: 255 }) }),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(...METHODS), mutation, async (raw, method, m) => {
        const headers = sign(raw, method);
        const at = m.at % (raw.length + (m.op === 'add' ? 1 : 0));
        let changed: Buffer;
        if (m.op === 'flip') {
          changed = Buffer.from(raw);
          changed[at] ^= m.xor;
        } else if (m.op === 'drop') {
          changed = Buffer.concat([raw.subarray(0, at), raw.subarray(at + 1)]);
        } else {
          changed = Buffer.concat([raw.subarray(0, at), Buffer.from([m.xor]), raw.subarray(at)]);
        }
        await expect(verifier.verify(changed, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a signature changed in any character, unless it still decodes to the same bytes', async () => {
    const alphabet = [
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ',
      '\u00e9',
    ];
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom(...METHODS),
        fc.nat(),
        fc.constantFrom(...alphabet),
        async (raw, method, at, c) => {
          const headers = sign(raw, method);
          const name = method === 'rsa-sha256' ? 'X-Postal-Signature-256' : 'X-Postal-Signature';
          const original = headers[name];
          const i = at % original.length;
          const changed = original.slice(0, i) + c + original.slice(i + 1);
          fc.pre(changed !== original);
          const result = await verifier.verify(raw, { ...headers, [name]: changed });
          // Non-canonical spellings (unused base64 bits, upper-case hex) decode to the same
          // signature: that is the same signature over the same bytes, not a forgery.
          const same =
            /^[A-Za-z0-9+/=]*$/.test(changed) || method === 'hmac-sha256'
              ? decoded(method, changed).equals(decoded(method, original))
              : false;
          if (!same) expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe(parseEnvelope.name + ' (fuzz)', () => {
  const envelope = fc
    .record({
      event: fc.oneof(
        fc.constantFrom('"MessageSent"', '"MessageBounced"'),
        hostileStringJson(),
        hostileJson(1),
      ),
      uuid: fc.oneof(
        fc.uuid().map((u) => `"${u}"`),
        hostileStringJson(70),
        hostileJson(1),
      ),
      timestamp: fc.oneof(fc.constantFrom('1710000000.5', '"x"', 'null'), hostileJson(1)),
      payload: hostileJson(3),
    })
    .map(
      ({ event, uuid, timestamp, payload }) =>
        `{"event":${event},"uuid":${uuid},"timestamp":${timestamp},"payload":${payload}}`,
    );

  it('returns a well-formed, storable envelope or throws the 400 validation error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          envelope,
          hostileJson(3),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
        ),
        (text) => {
          let result;
          try {
            result = parseEnvelope(Buffer.from(text, 'utf8'));
          } catch (err) {
            expect(err).toBeInstanceOf(AppError);
            expect(httpStatusOf(err as AppError)).toBe(400);
            expect((err as AppError).code).toBe('validation_error');
            return;
          }
          expect(typeof result.uuid).toBe('string');
          expect(result.uuid.length).toBeGreaterThanOrEqual(1);
          expect(result.uuid.length).toBeLessThanOrEqual(64);
          expect(typeof result.event).toBe('string');
          expect(result.event.length).toBeGreaterThanOrEqual(1);
          expect(result.event.length).toBeLessThanOrEqual(64);
          expect(result.payload).toEqual(expect.any(Object));
          expect(Array.isArray(result.payload)).toBe(false);
          expect(result.timestamp === undefined || typeof result.timestamp === 'number').toBe(true);
          // What gets stored as jsonb: never a character PostgreSQL refuses.
          expect(findUnstorableText(result)).toBeNull();
        },
      ),
      {
        numRuns: 300,
        examples: [
          [
            '{"event":"MessageSent","uuid":"a\\u0000b","payload":{"\\ud800":"\\u0000","x":["\\udfff"]}}',
          ],
        ],
      },
    );
  });
});
