// The module object itself (not a namespace copy), so jest can spy on timingSafeEqual.
import crypto from 'node:crypto';
import { createHash, createHmac, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { AppConfig, ConfigError, loadConfig } from 'src/config/app-config';
import {
  JWKS_REFETCH_INTERVAL_MS,
  parsePostalPublicKey,
  PostalJwksClient,
  postalKeyId,
} from 'src/infra/postal/postal-signing-keys';
import {
  WebhookSignatureVerifier,
  WebhookVerificationNotConfiguredError,
} from 'src/modules/webhooks/webhook-signature.verifier';
import { postalDkimRecord, postalJwks, signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { railsJson } from 'test/fakes/rails-json';

type Headers = Record<string, string | string[] | undefined>;

function rsaKeys(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

function webhookBody(subject = 'Tom & Jerry <3 > "cats"'): Buffer {
  return Buffer.from(
    railsJson({
      event: 'MessageSent',
      timestamp: 1710000000.123456,
      payload: {
        message: { id: 37171, token: 'Xq3nR8vLp2TzKw9A', subject, to: 'ann@example.com' },
        status: 'Sent',
        details: 'Message for ann@example.com accepted by mx.example.com (1.2.3.4)',
        output: '250 2.0.0 OK <a&b>',
      },
      uuid: randomUUID(),
    }),
  );
}

/** Only the named Postal headers of a full set (older Postals send just X-Postal-Signature). */
function pick(headers: Record<string, string>, ...names: string[]): Headers {
  return Object.fromEntries(names.map((n) => [n, headers[n]]));
}

function lowercase(headers: Record<string, string>): Headers {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function verifierFor(env: Record<string, string>): WebhookSignatureVerifier {
  const config: AppConfig = loadConfig(env);
  return new WebhookSignatureVerifier(config, new PostalJwksClient(config));
}

/** Independent of Node's exporter: DER of SEQUENCE { INTEGER n, INTEGER e } as ruby-jwt builds it. */
function derRsaPublicKey(key: KeyObject): Buffer {
  const length = (n: number): Buffer => {
    if (n < 0x80) return Buffer.from([n]);
    const bytes = Buffer.from(n.toString(16).padStart(n > 0xff ? 4 : 2, '0'), 'hex');
    return Buffer.concat([Buffer.from([0x80 | bytes.length]), bytes]);
  };
  const integer = (base64url: string): Buffer => {
    let bytes = Buffer.from(base64url, 'base64url');
    if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02]), length(bytes.length), bytes]);
  };
  const { n, e } = key.export({ format: 'jwk' });
  const body = Buffer.concat([integer(n!), integer(e!)]);
  return Buffer.concat([Buffer.from([0x30]), length(body.length), body]);
}

describe(WebhookSignatureVerifier.name, () => {
  let postal: { publicKey: KeyObject; privateKey: KeyObject };
  let other: { publicKey: KeyObject; privateKey: KeyObject };
  let pem: string;

  beforeAll(() => {
    postal = rsaKeys();
    other = rsaKeys();
    pem = postal.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('constructor', () => {
    it('throws a ConfigError naming POSTAL_WEBHOOK_PUBLIC_KEY when the key does not parse', () => {
      expect(() => verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: 'not a key' })).toThrow(ConfigError);
      expect(() => verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: 'not a key' })).toThrow(
        /POSTAL_WEBHOOK_PUBLIC_KEY/,
      );
      expect(() => verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: 'v=DKIM1; t=s; p=;' })).toThrow(
        /POSTAL_WEBHOOK_PUBLIC_KEY/,
      );
      expect(() => verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: 'TUlJQmlqQU5CZ2txaGtpRzl3' })).toThrow(
        /POSTAL_WEBHOOK_PUBLIC_KEY/,
      );
    });

    it('throws when the key is not an RSA key', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const ecPem = ec.export({ type: 'spki', format: 'pem' }).toString();
      expect(() => verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: ecPem })).toThrow(/RSA/);
    });

    it('does not throw when nothing is configured (verify reports it)', () => {
      expect(() => verifierFor({})).not.toThrow();
    });
  });

  describe('verify', () => {
    describe('with a static PEM key', () => {
      let verifier: WebhookSignatureVerifier;

      beforeEach(() => {
        verifier = verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: pem });
      });

      it('accepts X-Postal-Signature-256 over the raw Rails-escaped bytes', async () => {
        const body = webhookBody();
        expect(body.toString()).toContain('\\u003c3 \\u003e');
        expect(body.toString()).toContain('\\u0026');
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toEqual({ ok: true, method: 'rsa-sha256', kid: postalKeyId(postal.publicKey) });
      });

      it('accepts headers with the lower-case names Node gives them', async () => {
        const body = webhookBody();
        await expect(
          verifier.verify(body, lowercase(signPostalWebhook(body, postal.privateKey))),
        ).resolves.toMatchObject({ ok: true, method: 'rsa-sha256' });
      });

      it('accepts an older Postal that sends only the SHA-1 X-Postal-Signature', async () => {
        const body = webhookBody();
        const headers = pick(signPostalWebhook(body, postal.privateKey), 'X-Postal-Signature');
        await expect(verifier.verify(body, headers)).resolves.toMatchObject({
          ok: true,
          method: 'rsa-sha1',
        });
      });

      it('still verifies when the KID header does not match the static key', async () => {
        const body = webhookBody();
        const headers = { ...signPostalWebhook(body, postal.privateKey) };
        headers['X-Postal-Signature-KID'] = 'f'.repeat(64);
        await expect(verifier.verify(body, headers)).resolves.toMatchObject({ ok: true });
      });

      it('rejects a signature made with another key', async () => {
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, other.privateKey)),
        ).resolves.toEqual({ ok: false, reason: 'invalid' });
      });

      it('rejects a body with one byte changed', async () => {
        const body = webhookBody();
        const headers = signPostalWebhook(body, postal.privateKey);
        const tampered = Buffer.from(body);
        tampered[tampered.length - 3] ^= 0x01;
        await expect(verifier.verify(tampered, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
        await expect(
          verifier.verify(tampered, pick(headers, 'X-Postal-Signature')),
        ).resolves.toEqual({ ok: false, reason: 'invalid' });
      });

      it('rejects a re-serialised body (JSON.stringify un-escapes \\u003c)', async () => {
        const body = webhookBody();
        const headers = signPostalWebhook(body, postal.privateKey);
        const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString())));
        expect(reserialised.equals(body)).toBe(false);
        await expect(verifier.verify(reserialised, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });

      it('prefers X-Postal-Signature-256 over a valid SHA-1 signature', async () => {
        const body = webhookBody();
        const headers = { ...signPostalWebhook(body, postal.privateKey) };
        headers['X-Postal-Signature-256'] = signPostalWebhook(body, other.privateKey)[
          'X-Postal-Signature-256'
        ];
        await expect(verifier.verify(body, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });

      it('reports missing when there is no signature header', async () => {
        const body = webhookBody();
        await expect(verifier.verify(body, {})).resolves.toEqual({ ok: false, reason: 'missing' });
        await expect(
          verifier.verify(body, { 'x-postal-signature-kid': postalKeyId(postal.publicKey) }),
        ).resolves.toEqual({ ok: false, reason: 'missing' });
        await expect(
          verifier.verify(body, { 'x-postal-signature-256': '  ', 'x-postal-signature': '' }),
        ).resolves.toEqual({ ok: false, reason: 'missing' });
      });

      it.each([
        ['garbage', 'definitely not a signature!'],
        ['loose base64', 'YWJj ZGVm'],
        ['unpadded base64', 'YWJjZA'],
        ['base64 of the wrong length', Buffer.alloc(255, 7).toString('base64')],
        ['base64 of the right length but wrong bytes', Buffer.alloc(256, 7).toString('base64')],
      ])('reports invalid for a %s signature', async (_label, signature) => {
        const body = webhookBody();
        await expect(
          verifier.verify(body, { 'x-postal-signature-256': signature }),
        ).resolves.toEqual({ ok: false, reason: 'invalid' });
        await expect(verifier.verify(body, { 'x-postal-signature': signature })).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });

      it('reports invalid for a repeated signature header', async () => {
        const body = webhookBody();
        const good = signPostalWebhook(body, postal.privateKey)['X-Postal-Signature-256'];
        await expect(
          verifier.verify(body, { 'x-postal-signature-256': [good, good] }),
        ).resolves.toEqual({ ok: false, reason: 'invalid' });
      });

      it('treats a 64-hex X-Postal-Signature as RSA when POSTAL_SIGNING_KEY is unset', async () => {
        const body = webhookBody();
        const hmac = createHmac('sha256', 'a-signing-proxy-secret').update(body).digest('hex');
        const spy = jest.spyOn(crypto, 'timingSafeEqual');
        await expect(verifier.verify(body, { 'x-postal-signature': hmac })).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
        expect(spy).not.toHaveBeenCalled();
      });
    });

    describe('with other key formats', () => {
      it('accepts the base64 p= value of the DKIM-style record', async () => {
        const p = postal.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
        const verifier = verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: p });
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toMatchObject({ ok: true, method: 'rsa-sha256' });
      });

      it('accepts the whole DKIM record text', async () => {
        const record = postalDkimRecord(postal.publicKey);
        expect(record).toMatch(/^v=DKIM1; t=s; h=sha256; p=MII[A-Za-z0-9+/=]+;$/);
        const verifier = verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: record });
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toMatchObject({ ok: true });
      });

      it('accepts a record copied from DNS as quoted chunks', () => {
        const record = postalDkimRecord(postal.publicKey);
        const quoted = `"${record.slice(0, 120)}" "${record.slice(120)}"`;
        const key = parsePostalPublicKey(quoted);
        expect(postalKeyId(key)).toBe(postalKeyId(postal.publicKey));
      });

      it('accepts a PEM with literal \\n escapes and a PKCS#1 PEM', () => {
        const escaped = pem.trim().replace(/\n/g, '\\n');
        expect(postalKeyId(parsePostalPublicKey(escaped))).toBe(postalKeyId(postal.publicKey));
        const pkcs1 = postal.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
        expect(postalKeyId(parsePostalPublicKey(pkcs1))).toBe(postalKeyId(postal.publicKey));
      });
    });

    describe('with POSTAL_SIGNING_KEY (HMAC from a signing proxy)', () => {
      const secret = 'a-signing-proxy-secret';

      it('accepts a hex HMAC-SHA256 of the raw body, compared in constant time', async () => {
        const verifier = verifierFor({ POSTAL_SIGNING_KEY: secret });
        const body = webhookBody();
        const spy = jest.spyOn(crypto, 'timingSafeEqual');
        const hmac = createHmac('sha256', secret).update(body).digest('hex');
        await expect(verifier.verify(body, { 'x-postal-signature': hmac })).resolves.toEqual({
          ok: true,
          method: 'hmac-sha256',
        });
        expect(spy).toHaveBeenCalledTimes(1);
      });

      it('rejects a wrong HMAC through the constant-time comparison', async () => {
        const verifier = verifierFor({ POSTAL_SIGNING_KEY: secret });
        const body = webhookBody();
        const spy = jest.spyOn(crypto, 'timingSafeEqual');
        const wrong = createHmac('sha256', 'another-secret-value').update(body).digest('hex');
        await expect(verifier.verify(body, { 'x-postal-signature': wrong })).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
        expect(spy).toHaveBeenCalledTimes(1);
        const tampered = Buffer.concat([body, Buffer.from(' ')]);
        const good = createHmac('sha256', secret).update(body).digest('hex');
        await expect(verifier.verify(tampered, { 'x-postal-signature': good })).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });

      it('reports unknown_key for an RSA signature when only the HMAC secret is configured', async () => {
        const verifier = verifierFor({ POSTAL_SIGNING_KEY: secret });
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toEqual({ ok: false, reason: 'unknown_key' });
      });

      it('still accepts RSA signatures from Postal itself when both are configured', async () => {
        const verifier = verifierFor({
          POSTAL_SIGNING_KEY: secret,
          POSTAL_WEBHOOK_PUBLIC_KEY: pem,
        });
        const body = webhookBody();
        await expect(
          verifier.verify(
            body,
            pick(signPostalWebhook(body, postal.privateKey), 'X-Postal-Signature'),
          ),
        ).resolves.toMatchObject({ ok: true, method: 'rsa-sha1' });
      });

      it('accepts the proxy HMAC when Postal’s SHA-256 header no longer matches', async () => {
        const verifier = verifierFor({
          POSTAL_SIGNING_KEY: secret,
          POSTAL_WEBHOOK_PUBLIC_KEY: pem,
        });
        const body = webhookBody();
        const headers = {
          'x-postal-signature-256': signPostalWebhook(body, other.privateKey)[
            'X-Postal-Signature-256'
          ],
          'x-postal-signature': createHmac('sha256', secret).update(body).digest('hex'),
        };
        await expect(verifier.verify(body, headers)).resolves.toEqual({
          ok: true,
          method: 'hmac-sha256',
        });
      });
    });

    describe('with nothing configured', () => {
      it('throws WebhookVerificationNotConfiguredError', async () => {
        const verifier = verifierFor({});
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).rejects.toThrow(WebhookVerificationNotConfiguredError);
        await expect(verifier.verify(body, {})).rejects.toThrow(
          WebhookVerificationNotConfiguredError,
        );
      });
    });

    describe('never throws on request input', () => {
      const names = ['x-postal-signature-256', 'x-postal-signature', 'x-postal-signature-kid'];
      const input = () => {
        // Well-formed RSA signatures of the right length, just not over these bytes.
        const signed = signPostalWebhook(webhookBody(), postal.privateKey);
        const value = fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.stringMatching(/^[0-9a-fA-F]{64}$/),
          fc.constantFrom(signed['X-Postal-Signature-256'], signed['X-Postal-Signature']),
          fc.array(fc.string(), { maxLength: 3 }),
          fc.constant(undefined),
        );
        const key = fc.oneof(fc.constantFrom(...names, 'X-Postal-Signature-256'), fc.string());
        return fc.tuple(
          fc.uint8Array({ maxLength: 512 }),
          fc.dictionary(key, value, { maxKeys: 5 }),
        );
      };

      it('resolves to a failure for arbitrary bytes and header strings', async () => {
        const verifier = verifierFor({
          POSTAL_WEBHOOK_PUBLIC_KEY: pem,
          POSTAL_SIGNING_KEY: 'a-signing-proxy-secret',
        });
        await fc.assert(
          fc.asyncProperty(input(), async ([body, headers]) => {
            const result = await verifier.verify(Buffer.from(body), headers as Headers);
            expect(result.ok).toBe(false);
          }),
          { numRuns: 300 },
        );
      });

      it('reports invalid rather than throwing when the body is not a Buffer', async () => {
        const verifier = verifierFor({ POSTAL_WEBHOOK_PUBLIC_KEY: pem });
        const headers = signPostalWebhook(webhookBody(), postal.privateKey);
        await expect(verifier.verify(undefined as unknown as Buffer, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });
    });

    describe('with keys from $POSTAL_URL/.well-known/jwks.json', () => {
      let server: Server;
      let postalUrl: string;
      let hits: number;
      let respond: () => { status: number; body: string };
      let clockOffset: number;

      beforeAll(async () => {
        server = createServer((req, res) => {
          if (req.url !== '/.well-known/jwks.json') {
            res.writeHead(404).end();
            return;
          }
          hits += 1;
          const { status, body } = respond();
          res.writeHead(status, { 'Content-Type': 'application/json' }).end(body);
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        postalUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });

      afterAll(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });

      beforeEach(() => {
        hits = 0;
        respond = () => ({ status: 200, body: JSON.stringify(postalJwks(postal.publicKey)) });
        clockOffset = 0;
        const realNow = Date.now.bind(Date);
        jest.spyOn(Date, 'now').mockImplementation(() => realNow() + clockOffset);
      });

      const jwksVerifier = () =>
        verifierFor({ POSTAL_URL: postalUrl, POSTAL_API_KEY: 'server-api-key' });

      it('verifies by kid and caches the key', async () => {
        const verifier = jwksVerifier();
        const body = webhookBody();
        const headers = signPostalWebhook(body, postal.privateKey);
        await expect(verifier.verify(body, headers)).resolves.toEqual({
          ok: true,
          method: 'rsa-sha256',
          kid: postalKeyId(postal.publicKey),
        });
        await expect(verifier.verify(body, headers)).resolves.toMatchObject({ ok: true });
        await expect(
          verifier.verify(body, pick(headers, 'X-Postal-Signature', 'X-Postal-Signature-KID')),
        ).resolves.toMatchObject({ ok: true, method: 'rsa-sha1' });
        expect(hits).toBe(1);
      });

      it('refetches for an unknown kid at most once a minute', async () => {
        const verifier = jwksVerifier();
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toMatchObject({ ok: true });
        expect(hits).toBe(1);

        // Postal rotated its key: the new kid is unknown and the last fetch was just now.
        respond = () => ({ status: 200, body: JSON.stringify(postalJwks(other.publicKey)) });
        const rotated = signPostalWebhook(body, other.privateKey);
        await expect(verifier.verify(body, rotated)).resolves.toEqual({
          ok: false,
          reason: 'unknown_key',
        });
        clockOffset = JWKS_REFETCH_INTERVAL_MS - 1_000;
        await expect(verifier.verify(body, rotated)).resolves.toEqual({
          ok: false,
          reason: 'unknown_key',
        });
        expect(hits).toBe(1);

        clockOffset = JWKS_REFETCH_INTERVAL_MS + 1_000;
        const results = await Promise.all(
          Array.from({ length: 5 }, () => verifier.verify(body, rotated)),
        );
        expect(results).toEqual(
          Array(5).fill({ ok: true, method: 'rsa-sha256', kid: rotated['X-Postal-Signature-KID'] }),
        );
        expect(hits).toBe(2);

        const forged = { ...rotated, 'X-Postal-Signature-KID': 'a'.repeat(64) };
        for (let i = 0; i < 3; i += 1) {
          await expect(verifier.verify(body, forged)).resolves.toEqual({
            ok: false,
            reason: 'unknown_key',
          });
        }
        expect(hits).toBe(2);
        clockOffset += JWKS_REFETCH_INTERVAL_MS + 1_000;
        await expect(verifier.verify(body, forged)).resolves.toEqual({
          ok: false,
          reason: 'unknown_key',
        });
        expect(hits).toBe(3);
      });

      it('uses the only key of the set when there is no KID header', async () => {
        const verifier = jwksVerifier();
        const body = webhookBody();
        const headers = pick(signPostalWebhook(body, postal.privateKey), 'X-Postal-Signature-256');
        await expect(verifier.verify(body, headers)).resolves.toMatchObject({
          ok: true,
          method: 'rsa-sha256',
        });
      });

      it('reports unknown_key without a KID header when the set has several keys', async () => {
        respond = () => ({
          status: 200,
          body: JSON.stringify({
            keys: [...postalJwks(postal.publicKey).keys, ...postalJwks(other.publicKey).keys],
          }),
        });
        const verifier = jwksVerifier();
        const body = webhookBody();
        const headers = signPostalWebhook(body, other.privateKey);
        await expect(
          verifier.verify(body, pick(headers, 'X-Postal-Signature-256')),
        ).resolves.toEqual({ ok: false, reason: 'unknown_key' });
        await expect(verifier.verify(body, headers)).resolves.toMatchObject({ ok: true });
      });

      it('reports invalid when the kid is known but the signature is wrong', async () => {
        const verifier = jwksVerifier();
        const body = webhookBody();
        const headers = {
          ...signPostalWebhook(body, other.privateKey),
          'X-Postal-Signature-KID': postalKeyId(postal.publicKey),
        };
        await expect(verifier.verify(body, headers)).resolves.toEqual({
          ok: false,
          reason: 'invalid',
        });
      });

      it('does not fetch the set for a signature that is not even base64', async () => {
        const verifier = jwksVerifier();
        await expect(
          verifier.verify(webhookBody(), { 'x-postal-signature-256': '%%%' }),
        ).resolves.toEqual({ ok: false, reason: 'invalid' });
        expect(hits).toBe(0);
      });

      it.each([
        ['HTTP 500', () => ({ status: 500, body: 'oops' })],
        ['non-JSON', () => ({ status: 200, body: '<html>' })],
        ['a set without keys', () => ({ status: 200, body: '{"keys":[]}' })],
        ['a set of non-RSA keys', () => ({ status: 200, body: '{"keys":[{"kty":"EC"}]}' })],
        ['a body without a keys array', () => ({ status: 200, body: '{"keys":"x"}' })],
      ])('reports unknown_key and warns when Postal answers %s', async (_label, answer) => {
        respond = answer;
        const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
        const verifier = jwksVerifier();
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toEqual({ ok: false, reason: 'unknown_key' });
        expect(hits).toBe(1);
        expect(warn).toHaveBeenCalledWith(expect.stringContaining('/.well-known/jwks.json'));
      });

      it('reports unknown_key when Postal cannot be reached', async () => {
        const closed = createServer();
        await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
        const port = (closed.address() as AddressInfo).port;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
        const verifier = verifierFor({
          POSTAL_URL: `http://127.0.0.1:${port}`,
          POSTAL_API_KEY: 'server-api-key',
        });
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toEqual({ ok: false, reason: 'unknown_key' });
        expect(warn).toHaveBeenCalledTimes(1);
      });

      it('prefers a static POSTAL_WEBHOOK_PUBLIC_KEY over the JWKS', async () => {
        const verifier = verifierFor({
          POSTAL_URL: postalUrl,
          POSTAL_API_KEY: 'server-api-key',
          POSTAL_WEBHOOK_PUBLIC_KEY: pem,
        });
        const body = webhookBody();
        await expect(
          verifier.verify(body, signPostalWebhook(body, postal.privateKey)),
        ).resolves.toMatchObject({ ok: true });
        expect(hits).toBe(0);
      });
    });
  });
});

describe(postalKeyId.name, () => {
  it('is the hex SHA-256 of the DER RSAPublicKey (n, e), as ruby-jwt computes kids', () => {
    const { publicKey, privateKey } = rsaKeys();
    const expected = createHash('sha256').update(derRsaPublicKey(publicKey)).digest('hex');
    expect(postalKeyId(publicKey)).toBe(expected);
    expect(postalKeyId(privateKey)).toBe(expected);
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    expect(expected).not.toBe(createHash('sha256').update(spki).digest('hex'));
  });
});

describe(railsJson.name, () => {
  it('escapes <, >, & and U+2028/U+2029 like Rails', () => {
    expect(railsJson({ a: '<b> & c\u2028d\u2029' })).toBe(
      '{"a":"\\u003cb\\u003e \\u0026 c\\u2028d\\u2029"}',
    );
    expect(JSON.parse(railsJson({ a: '<b> & c' }))).toEqual({ a: '<b> & c' });
  });
});
