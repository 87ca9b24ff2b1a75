import { createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';

export type TrackingTokenKind = 'open' | 'click' | 'unsubscribe';

export interface TrackingTokenPayload {
  kind: TrackingTokenKind;
  messageId: string;
  /** Only for `click`: the exact URL to redirect to. */
  url?: string;
}

/** Longest token `sign` produces and `verify` looks at; anything longer is rejected unparsed. */
export const MAX_TRACKING_TOKEN_LENGTH = 4096;

/**
 * 16 bytes (128 bits) of HMAC-SHA256. A forger must guess the tag online, one HTTP request
 * per try, so 2^-128 per attempt is far past any useful margin, and it is within the
 * truncation guidance of RFC 2104 §5 / NIST SP 800-107 (at least half the hash, at least
 * 80 bits). It keeps the tag at 22 characters of base64url instead of 43.
 */
const MAC_BYTES = 16;
const MAC_CHARS = Math.ceil((MAC_BYTES * 8) / 6);

/** Domain separation, so TRACKING_SECRET MACs made for any other purpose never verify here. */
const MAC_CONTEXT = 'email-sender/tracking-token/v1\n';

const KIND_CODES: Record<TrackingTokenKind, string> = { open: 'o', click: 'c', unsubscribe: 'u' };
const KINDS_BY_CODE = new Map(
  Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as TrackingTokenKind]),
);

const TOKEN_SHAPE = new RegExp(`^([A-Za-z0-9_-]+)\\.([A-Za-z0-9_-]{${MAC_CHARS}})$`);
const HTTP_URL_PREFIX = /^https?:\/\//i;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * True for an absolute http(s) URL that is safe to redirect to: explicit `scheme://`, parseable
 * by the WHATWG URL parser, no control characters (a CR/LF could split the Location header).
 * The rewriter tracks exactly the links this accepts, so every click token it asks for verifies.
 */
export function isTrackableHttpUrl(url: string): boolean {
  return HTTP_URL_PREFIX.test(url) && !CONTROL_CHARS.test(url) && parsesAsUrl(url);
}

/**
 * URL.canParse, without its bug: on Node 20 and 22, once V8 optimises the call, canParse
 * answers false for a host with Latin-1 letters (`https://bücher.example/`), so the same link
 * was tracked when the process was cold and its click token refused when warm.
 */
export function parsesAsUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signs and verifies the tokens in tracking and unsubscribe links (README "Security"):
 * `base64url(JSON [kindCode, messageId, url?]) "." base64url(truncated HMAC-SHA256)`.
 * The kind code is inside the MACed payload, so a token of one kind never verifies as another.
 */
export class TrackingTokenSigner {
  private readonly key: KeyObject;

  constructor(secret: string) {
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new TypeError('TrackingTokenSigner needs a non-empty secret');
    }
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  /**
   * Throws TypeError for an invalid payload (a click needs an http(s) URL, other kinds carry
   * none) and RangeError when the token would exceed MAX_TRACKING_TOKEN_LENGTH (a very long
   * URL); callers leave such a link untracked.
   */
  sign(payload: TrackingTokenPayload): string {
    const { kind, messageId, url } = payload;
    const code = Object.hasOwn(KIND_CODES, kind) ? KIND_CODES[kind] : undefined;
    if (code === undefined) throw new TypeError(`Unknown tracking token kind: ${String(kind)}`);
    if (typeof messageId !== 'string' || messageId.length === 0) {
      throw new TypeError('A tracking token needs a non-empty messageId');
    }
    let fields: string[];
    if (kind === 'click') {
      if (typeof url !== 'string' || !isTrackableHttpUrl(url)) {
        throw new TypeError('A click token needs an absolute http(s) URL');
      }
      fields = [code, messageId, url];
    } else {
      if (url !== undefined) throw new TypeError(`A ${kind} token carries no URL`);
      fields = [code, messageId];
    }
    const body = Buffer.from(JSON.stringify(fields), 'utf8').toString('base64url');
    const token = `${body}.${this.mac(body).toString('base64url')}`;
    if (token.length > MAX_TRACKING_TOKEN_LENGTH) {
      throw new RangeError(`Tracking token would be ${token.length} characters long`);
    }
    return token;
  }

  /** The payload of a genuine token of `kind`, else null. Never throws. */
  verify(token: string, kind: TrackingTokenKind): TrackingTokenPayload | null {
    try {
      return this.verifyOrNull(token, kind);
    } catch {
      // Unreachable by design; a verifier on a public route must still never throw.
      return null;
    }
  }

  private verifyOrNull(token: unknown, kind: TrackingTokenKind): TrackingTokenPayload | null {
    if (typeof token !== 'string' || token.length > MAX_TRACKING_TOKEN_LENGTH) return null;
    const match = TOKEN_SHAPE.exec(token);
    if (!match) return null;
    const [, body, macText] = match;
    const given = Buffer.from(macText, 'base64url');
    // Only the canonical encoding counts, so each token has exactly one accepted spelling.
    if (given.length !== MAC_BYTES || given.toString('base64url') !== macText) return null;
    if (!timingSafeEqual(given, this.mac(body))) return null;

    const fields: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) return null;
    const [code, messageId, url, ...rest] = fields as string[];
    if (rest.length > 0 || KINDS_BY_CODE.get(code) !== kind || !messageId) return null;
    if (kind !== 'click') return url === undefined ? { kind, messageId } : null;
    return url !== undefined && isTrackableHttpUrl(url) ? { kind, messageId, url } : null;
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key)
      .update(MAC_CONTEXT)
      .update(body)
      .digest()
      .subarray(0, MAC_BYTES);
  }
}
