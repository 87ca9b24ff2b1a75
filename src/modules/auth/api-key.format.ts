import { createHash, randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const API_KEY_PREFIX = 'esk_';
export const API_KEY_PATTERN = /^esk_[0-9A-Za-z]{40}$/;

/** `esk_` + 40 uniformly random base62 characters (rejection sampling, no modulo bias). */
export function generateApiKey(): string {
  let out = '';
  while (out.length < 40) {
    for (const byte of randomBytes(64)) {
      if (byte < 248 && out.length < 40) out += BASE62[byte % 62];
    }
  }
  return API_KEY_PREFIX + out;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What operators see instead of the key. */
export function displayPrefix(key: string): string {
  return key.slice(0, 8);
}
