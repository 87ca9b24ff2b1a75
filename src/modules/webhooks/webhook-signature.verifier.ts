import { createHmac, KeyObject, timingSafeEqual, verify } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig, ConfigError } from 'src/config/app-config';
import {
  parsePostalPublicKey,
  PostalJwksClient,
  postalKeyId,
} from 'src/infra/postal/postal-signing-keys';

export type SignatureCheck =
  | { ok: true; method: 'rsa-sha256' | 'rsa-sha1' | 'hmac-sha256'; kid?: string }
  | { ok: false; reason: 'missing' | 'invalid' | 'unknown_key' };

/** No key source at all (README "Postal set-up"): the webhook endpoint answers 500 and logs. */
export class WebhookVerificationNotConfiguredError extends Error {
  constructor() {
    super(
      'Webhook signatures cannot be verified: set POSTAL_WEBHOOK_PUBLIC_KEY, POSTAL_URL ' +
        '(for its JWKS) or POSTAL_SIGNING_KEY',
    );
    this.name = 'WebhookVerificationNotConfiguredError';
  }
}

type RsaAlgorithm = 'sha256' | 'sha1';

const MISSING: SignatureCheck = { ok: false, reason: 'missing' };
const INVALID: SignatureCheck = { ok: false, reason: 'invalid' };
const UNKNOWN_KEY: SignatureCheck = { ok: false, reason: 'unknown_key' };

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
// Postal uses Base64.strict_encode64: standard alphabet, padded, no line breaks.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    const found = Object.keys(headers).find((k) => k.toLowerCase() === name);
    if (found !== undefined) value = headers[found];
  }
  // A repeated header joins into something that is not base64 or hex, so it fails as invalid.
  if (Array.isArray(value)) value = value.join(',');
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function decodeBase64(value: string): Buffer | null {
  return STRICT_BASE64.test(value) ? Buffer.from(value, 'base64') : null;
}

function rsaVerify(algorithm: RsaAlgorithm, body: Buffer, key: KeyObject, sig: Buffer): boolean {
  const modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (sig.length !== Math.ceil(modulusBits / 8)) return false;
  return verify(algorithm, body, key, sig);
}

/**
 * Checks Postal's webhook signatures (README "Postal set-up") over the raw request: RSA PKCS#1 v1.5
 * SHA-256 (`X-Postal-Signature-256`) or SHA-1 (`X-Postal-Signature`, older Postals) with one
 * key for the whole install, or a hex HMAC-SHA256 from a signing proxy when POSTAL_SIGNING_KEY
 * is set. Never throws on request input.
 */
@Injectable()
export class WebhookSignatureVerifier {
  private readonly staticKey?: { key: KeyObject; kid: string };
  private readonly hmacKey?: Buffer;

  constructor(
    config: AppConfig,
    private readonly jwks: PostalJwksClient,
  ) {
    const configured = config.postal.webhookPublicKey;
    if (configured !== undefined) {
      try {
        const key = parsePostalPublicKey(configured);
        this.staticKey = { key, kid: postalKeyId(key) };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new ConfigError([
          `POSTAL_WEBHOOK_PUBLIC_KEY must be an RSA public key as PEM or the base64 p= value of ` +
            `Postal's DKIM record (${reason})`,
        ]);
      }
    }
    if (config.postal.signingKey !== undefined) {
      this.hmacKey = Buffer.from(config.postal.signingKey, 'utf8');
    }
  }

  private get hasRsaSource(): boolean {
    return this.staticKey !== undefined || this.jwks.configured;
  }

  /** Throws WebhookVerificationNotConfiguredError when no key source at all is configured. */
  async verify(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<SignatureCheck> {
    if (!this.hasRsaSource && this.hmacKey === undefined) {
      throw new WebhookVerificationNotConfiguredError();
    }
    try {
      return await this.check(rawBody, headers);
    } catch {
      return INVALID;
    }
  }

  private async check(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<SignatureCheck> {
    const sig256 = header(headers, 'x-postal-signature-256');
    const sig1 = header(headers, 'x-postal-signature');
    if (sig256 === undefined && sig1 === undefined) return MISSING;
    if (!Buffer.isBuffer(rawBody)) return INVALID;
    const kid = header(headers, 'x-postal-signature-kid');

    if (sig256 !== undefined && this.hasRsaSource) {
      const result = await this.checkRsa('sha256', rawBody, sig256, kid);
      if (result.ok || sig1 === undefined || !this.isHmac(sig1)) return result;
      // A signing proxy may pass Postal's own header through next to its HMAC.
      const hmac = this.checkHmac(rawBody, sig1);
      return hmac.ok ? hmac : result;
    }
    if (sig1 !== undefined) {
      if (this.isHmac(sig1)) return this.checkHmac(rawBody, sig1);
      if (this.hasRsaSource) return this.checkRsa('sha1', rawBody, sig1, kid);
    }
    // An RSA signature, but only the HMAC secret is configured.
    return UNKNOWN_KEY;
  }

  private isHmac(signature: string): boolean {
    return this.hmacKey !== undefined && HEX_SHA256.test(signature);
  }

  private checkHmac(rawBody: Buffer, signature: string): SignatureCheck {
    const expected = createHmac('sha256', this.hmacKey!).update(rawBody).digest();
    const given = Buffer.from(signature, 'hex');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    return ok ? { ok: true, method: 'hmac-sha256' } : INVALID;
  }

  private async checkRsa(
    algorithm: RsaAlgorithm,
    rawBody: Buffer,
    signature: string,
    kid: string | undefined,
  ): Promise<SignatureCheck> {
    const sig = decodeBase64(signature);
    if (!sig) return INVALID;
    const method = algorithm === 'sha256' ? 'rsa-sha256' : 'rsa-sha1';
    if (this.staticKey) {
      // The KID header is not consulted: the static key is the only key, and Postal versions
      // may compute kids differently; the signature alone decides.
      return rsaVerify(algorithm, rawBody, this.staticKey.key, sig)
        ? { ok: true, method, kid: this.staticKey.kid }
        : INVALID;
    }
    const key = await this.jwks.keyFor(kid);
    if (!key) return UNKNOWN_KEY;
    return rsaVerify(algorithm, rawBody, key, sig) ? { ok: true, method, kid } : INVALID;
  }
}
