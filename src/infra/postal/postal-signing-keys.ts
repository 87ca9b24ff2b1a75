import { createHash, createPublicKey, KeyObject } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';

/**
 * Postal's webhook signing keys (README "Postal set-up"): the public key pasted into
 * POSTAL_WEBHOOK_PUBLIC_KEY and the JWK set Postal ≥ 3.2 serves. Infrastructure, like
 * PostalClient: the webhooks module verifies signatures with them and the doctor checks them.
 */

/** An unknown kid refetches the set at most this often (per process). */
export const JWKS_REFETCH_INTERVAL_MS = 60_000;
const JWKS_FETCH_TIMEOUT_MS = 5_000;

/**
 * The key id Postal puts in `X-Postal-Signature-KID` and in its JWKS: ruby-jwt's default
 * `KidAsKeyDigest`, i.e. hex SHA-256 of the DER of the PKCS#1 `RSAPublicKey` (SEQUENCE of n
 * and e), not of the SPKI wrapper.
 */
export function postalKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'pkcs1', format: 'der' }))
    .digest('hex');
}

/** RSA signing keys of a JWK set, by kid; anything else in the set is skipped. */
export function parseJwks(body: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const entries = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries)) throw new Error('the response has no "keys" array');
  for (const entry of entries as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const jwk = entry as Record<string, unknown>;
    if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
    } catch {
      continue;
    }
    const kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : postalKeyId(key);
    keys.set(kid, key);
  }
  return keys;
}

/**
 * Postal's webhook signing keys from `$POSTAL_URL/.well-known/jwks.json`, cached by kid.
 * Never throws: an unreachable Postal or a bad answer is logged and the key reported unknown.
 */
@Injectable()
export class PostalJwksClient {
  private readonly logger = new Logger(PostalJwksClient.name);
  private readonly url?: string;
  private keys = new Map<string, KeyObject>();
  private lastFetchAt?: number;
  private inFlight?: Promise<void>;

  constructor(config: AppConfig) {
    this.url = config.postal.url ? `${config.postal.url}/.well-known/jwks.json` : undefined;
  }

  /** True when POSTAL_URL is set, so there is a JWKS to fetch. */
  get configured(): boolean {
    return this.url !== undefined;
  }

  /**
   * The key for `kid`; with no kid, the only key of a one-key set. A miss refetches the set,
   * but at most once per minute so forged kids cannot make us hammer Postal.
   */
  async keyFor(kid: string | undefined): Promise<KeyObject | null> {
    if (!this.url) return null;
    const cached = this.lookup(kid);
    if (cached) return cached;
    if (!this.inFlight) {
      const fetchedRecently =
        this.lastFetchAt !== undefined && Date.now() - this.lastFetchAt < JWKS_REFETCH_INTERVAL_MS;
      if (fetchedRecently) return null;
      this.lastFetchAt = Date.now();
      this.inFlight = this.fetchKeys(this.url).finally(() => {
        this.inFlight = undefined;
      });
    }
    await this.inFlight;
    return this.lookup(kid);
  }

  /**
   * The whole set, fetched now (no cache), for a set-up check; throws with the reason when it
   * cannot be read or holds no RSA signing key.
   */
  async fetchSet(): Promise<Map<string, KeyObject>> {
    if (!this.url) throw new Error('POSTAL_URL is not set');
    const response = await fetch(this.url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    const keys = parseJwks(await response.json());
    if (keys.size === 0) throw new Error('the set has no RSA signing key');
    return keys;
  }

  /** The JWKS address, when POSTAL_URL is set. */
  get address(): string | undefined {
    return this.url;
  }

  private lookup(kid: string | undefined): KeyObject | null {
    if (kid !== undefined) return this.keys.get(kid) ?? null;
    if (this.keys.size !== 1) return null;
    return this.keys.values().next().value ?? null;
  }

  private async fetchKeys(url: string): Promise<void> {
    try {
      // The set is the authority: a rotated-out key stops verifying.
      this.keys = await this.fetchSet();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`Could not load Postal's webhook signing keys from ${url}: ${reason}`);
    }
  }
}

// Postal uses Base64.strict_encode64: standard alphabet, padded, no line breaks.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// A DKIM tag list (`v=DKIM1; t=s; h=sha256; p=...`) rather than a bare base64 key.
const DKIM_P_TAG = /(?:^|;)\s*p\s*=/;

function derToPublicKey(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    return createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  }
}

/**
 * Parses POSTAL_WEBHOOK_PUBLIC_KEY: a PEM (literal `\n` escapes allowed), the base64 `p=` value
 * of Postal's DKIM-style record (SPKI DER; PKCS#1 DER is accepted too), or the whole record
 * text, quoted DNS chunks included. Throws when it is not an RSA public key.
 */
export function parsePostalPublicKey(value: string): KeyObject {
  const text = value.trim().replace(/\\n/g, '\n');
  let key: KeyObject;
  if (text.includes('-----BEGIN')) {
    key = createPublicKey(text);
  } else {
    let encoded = text.replace(/"/g, '');
    if (DKIM_P_TAG.test(encoded)) {
      const tag = encoded
        .split(';')
        .map((part) => part.split('='))
        .find(([name]) => name.trim() === 'p');
      encoded = tag ? tag.slice(1).join('=') : '';
    }
    encoded = encoded.replace(/\s+/g, '');
    if (encoded === '') throw new Error('the DKIM record has an empty p= (revoked key)');
    if (!STRICT_BASE64.test(encoded)) throw new Error('not PEM and not base64');
    key = derToPublicKey(Buffer.from(encoded, 'base64'));
  }
  if (key.type === 'private') key = createPublicKey(key);
  if (key.asymmetricKeyType !== 'rsa') {
    throw new Error(`expected an RSA key, got ${key.asymmetricKeyType ?? 'an unknown type'}`);
  }
  return key;
}
