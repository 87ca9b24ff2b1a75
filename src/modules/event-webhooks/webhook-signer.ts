import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Bytes of a new secret (the Standard Webhooks specification asks for 24 to 64). */
const SECRET_BYTES = 32;

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** `whsec_` + base64 of 24 to 64 bytes. */
export function isSecret(value: string): boolean {
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  const n = Buffer.from(value.slice(6), 'base64').length;
  return n >= 24 && n <= 64;
}

/**
 * Signs webhook requests per the Standard Webhooks specification (README "Event webhooks"):
 * `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each live
 * secret, space-separated (the new secret first during a rotation). The HMAC keys are
 * decoded once per secret.
 */
export class WebhookSigner {
  private readonly keys = new Map<string, Webhook>();

  headers(
    secrets: readonly string[],
    msgId: string,
    at: Date,
    body: string,
  ): Record<string, string> {
    const signature = secrets.map((s) => this.key(s).sign(msgId, at, body)).join(' ');
    return {
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    };
  }

  private key(secret: string): Webhook {
    let k = this.keys.get(secret);
    if (!k) {
      if (this.keys.size > 10_000) this.keys.clear();
      k = new Webhook(secret);
      this.keys.set(secret, k);
    }
    return k;
  }
}
