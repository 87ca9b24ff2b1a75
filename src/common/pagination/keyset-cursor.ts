import { ValidationFailedError } from 'src/common/errors/app-error';
import { parsePositiveInt4, parsePositiveInt8 } from 'src/common/validation/db-int';

/**
 * The one keyset-cursor codec of every list endpoint (messages, templates, reports, blacklist,
 * feedback reports; the dashboard's pages reuse theirs). A list pages newest first and hands
 * out `next_cursor`, the key of its page's last row; the next request passes it back as
 * `cursor` (README "API overview"; README "What a caller's input can and cannot do").
 *
 * A cursor is valid only when it is exactly what this list issues: its text decodes to a key
 * whose fields fit their database columns (src/common/validation/db-int.ts) and that encodes
 * back to the very same cursor. Anything else — garbage, another list's cursor, an
 * out-of-range id, another spelling of a valid one — is a 400 `validation_error` on the field
 * `cursor`, never a database error.
 */
export interface KeysetCursor<K> {
  /** The `next_cursor` for a page whose last row has this key. */
  encode(key: K): string;
  /** The key behind a client's cursor; throws ValidationFailedError (400) if it is not ours. */
  decode(cursor: string): K;
  /** True when `decode` would succeed (for DTO validators). */
  isValid(cursor: unknown): cursor is string;
}

/** How a list writes its key as text, and reads it back (null: not a key of this list). */
export interface KeysetFormat<K> {
  /** `base64url` (opaque, the default) or `plain` (the text itself, e.g. a bare id). */
  encoding?: 'base64url' | 'plain';
  write(key: K): string;
  read(text: string): K | null;
}

/** Longer than any cursor a list issues; longer input is rejected before decoding. */
const MAX_CURSOR_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function invalidCursorError(): ValidationFailedError {
  return new ValidationFailedError('cursor is invalid', [
    { field: 'cursor', message: 'cursor must be a next_cursor from this endpoint' },
  ]);
}

export function keysetCursor<K>(format: KeysetFormat<K>): KeysetCursor<K> {
  const plain = format.encoding === 'plain';
  const encode = (key: K): string => {
    const text = format.write(key);
    return plain ? text : Buffer.from(text, 'utf8').toString('base64url');
  };
  const read = (cursor: unknown): K | null => {
    if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH)
      return null;
    if (!plain && !BASE64URL.test(cursor)) return null;
    const text = plain ? cursor : Buffer.from(cursor, 'base64url').toString('utf8');
    let key: K | null;
    try {
      key = format.read(text);
    } catch {
      key = null; // e.g. JSON.parse of garbage
    }
    // Only the exact spelling this list issues: no second spelling of a key (leading zeros,
    // base64 padding bits) silently pages from somewhere else.
    return key !== null && encode(key) === cursor ? key : null;
  };
  return {
    encode,
    decode(cursor: string): K {
      const key = read(cursor);
      if (key === null) throw invalidCursorError();
      return key;
    },
    isValid: (cursor: unknown): cursor is string => read(cursor) !== null,
  };
}

/**
 * A cursor on a positive id column: `integer` ids decode to a number, `bigint` ids to their
 * decimal text (beyond 2^53). `prefix` tags the text (`m:` for messages).
 */
export function idCursor(
  column: 'integer',
  options?: { prefix?: string; encoding?: 'base64url' | 'plain' },
): KeysetCursor<number>;
export function idCursor(
  column: 'bigint',
  options?: { prefix?: string; encoding?: 'base64url' | 'plain' },
): KeysetCursor<string>;
export function idCursor(
  column: 'integer' | 'bigint',
  {
    prefix = '',
    encoding = 'base64url',
  }: { prefix?: string; encoding?: 'base64url' | 'plain' } = {},
): KeysetCursor<number> | KeysetCursor<string> {
  const digits = (text: string): string | null =>
    text.startsWith(prefix) ? text.slice(prefix.length) : null;
  if (column === 'integer') {
    return keysetCursor<number>({
      encoding,
      write: (id) => `${prefix}${id}`,
      read: (text) => {
        const d = digits(text);
        return d === null ? null : parsePositiveInt4(d);
      },
    });
  }
  return keysetCursor<string>({
    encoding,
    write: (id) => `${prefix}${id}`,
    read: (text) => {
      const d = digits(text);
      return d === null ? null : parsePositiveInt8(d);
    },
  });
}
