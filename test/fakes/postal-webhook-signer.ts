import { createPublicKey, KeyObject, sign } from 'node:crypto';
import { postalKeyId } from 'src/infra/postal/postal-signing-keys';

/**
 * The headers Postal 3.x adds to a webhook (lib/postal/http.rb with `sign: true`): the kid of
 * its signing key, base64 RSA PKCS#1 v1.5 over the raw body with SHA-1 and with SHA-256.
 */
export function signPostalWebhook(rawBody: Buffer, privateKey: KeyObject): Record<string, string> {
  return {
    'X-Postal-Signature-KID': postalKeyId(privateKey),
    'X-Postal-Signature': sign('sha1', rawBody, privateKey).toString('base64'),
    'X-Postal-Signature-256': sign('sha256', rawBody, privateKey).toString('base64'),
  };
}

/** What Postal serves at `/.well-known/jwks.json` (`JWT::JWK::Set.new(signer.jwk).export`). */
export function postalJwks(key: KeyObject): { keys: Array<Record<string, string>> } {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { n, e } = publicKey.export({ format: 'jwk' });
  return {
    keys: [{ kty: 'RSA', n: n!, e: e!, use: 'sig', alg: 'RS256', kid: postalKeyId(publicKey) }],
  };
}

/** Postal's DKIM-style TXT record for its signing key (`Postal.rp_dkim_dns_record`). */
export function postalDkimRecord(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return `v=DKIM1; t=s; h=sha256; p=${p};`;
}
