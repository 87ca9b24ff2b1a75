import { createHash, timingSafeEqual } from 'node:crypto';
import { checkBasicAuth } from 'src/common/http/basic-auth';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * INBOUND_SECRET as `POST /api/v1/inbound/postal/<secret>` or as the Basic-auth password (any
 * user name) — constant-time. Checked from the URL and headers alone, so a request without
 * it is refused before its body is read (README: Security).
 */
export function inboundSecretMatches(
  secret: string | undefined,
  token: string | undefined,
  authorization: string | undefined,
): boolean {
  if (!secret) return false;
  if (token !== undefined) return timingSafeEqual(digest(token), digest(secret));
  if (!authorization) return false;
  const user = /^Basic\s+(\S+)/i.exec(authorization)?.[1];
  const name = user ? Buffer.from(user, 'base64').toString('utf8').split(':')[0] : '';
  return checkBasicAuth(authorization, name, secret);
}

/** Whether the request carries one of the signatures Postal puts on its requests. */
export function hasPostalSignatureHeader(headers: Record<string, unknown>): boolean {
  return ['x-postal-signature', 'x-postal-signature-256'].some((name) => {
    const value = headers[name];
    return (typeof value === 'string' && value.trim() !== '') || Array.isArray(value);
  });
}
