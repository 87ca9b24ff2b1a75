/**
 * What never reaches a log line (README "Security"): capability tokens and secrets in a URL's
 * path or query, and credential headers. Applied to every request URL the HTTP logger writes,
 * whatever route (or none) it matched, so another spelling of a path leaks nothing either.
 */

export const REDACTED = '[redacted]';

/**
 * A path segment after one of these is a secret: the open/click tracking token, the
 * unsubscribe token, the inbound-endpoint secret. Compared case-insensitively, across repeated
 * slashes and after percent-decoding, as a request may spell a path any way.
 */
const SECRET_AFTER = ['t/o', 't/c', 'unsubscribe', 'api/v1/inbound/postal'];

/** Query parameters whose value is a credential. */
const SECRET_PARAM = /token|secret|key|sig|signature|pass|auth|session|jwt|code|credential/i;

/**
 * Anything that looks like a token by itself (long, letters and digits mixed, not a UUID)
 * — an API key pasted into a path, an unknown route's capability — is dropped too.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function looksLikeToken(value: string): boolean {
  return value.length >= 32 && /[0-9]/.test(value) && /[A-Za-z]/.test(value) && !UUID.test(value);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function redactPath(path: string): string {
  // Non-empty segments so far, decoded and lower-cased: where the secret positions are.
  let before = '';
  return path
    .split('/')
    .map((segment) => {
      if (segment === '') return segment;
      const decoded = decode(segment);
      const secret =
        SECRET_AFTER.some((p) => before === p || before.endsWith(`/${p}`)) ||
        looksLikeToken(decoded);
      before = before ? `${before}/${decoded.toLowerCase()}` : decoded.toLowerCase();
      return secret ? REDACTED : segment;
    })
    .join('/');
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return looksLikeToken(decode(pair)) ? REDACTED : pair;
      const name = pair.slice(0, eq);
      const value = decode(pair.slice(eq + 1));
      return SECRET_PARAM.test(decode(name)) || looksLikeToken(value)
        ? `${name}=${REDACTED}`
        : pair;
    })
    .join('&');
}

/** The URL as logged: secrets in the path and the query replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const redacted = redactPath(path);
  return q < 0 ? redacted : `${redacted}?${redactQuery(url.slice(q + 1))}`;
}

/**
 * The few request headers an access line keeps (README "Observability"): the client software,
 * the page a link was followed from (redacted like a URL) and the body size. Every other
 * header — credentials, cookies, signatures, idempotency keys — is never written, so no
 * header can leak a secret however it is named.
 */
export function loggedHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const ua = headers['user-agent'];
  if (typeof ua === 'string') out.user_agent = ua.slice(0, 200);
  const referer = headers['referer'];
  if (typeof referer === 'string') out.referer = redactAbsoluteUrl(referer);
  const length = headers['content-length'];
  if (typeof length === 'string') out.content_length = length;
  return out;
}

function redactAbsoluteUrl(value: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i.exec(value);
  return match ? `${match[1]}${redactUrl(match[2])}` : redactUrl(value);
}
