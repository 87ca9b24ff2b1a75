import { createHash } from 'node:crypto';

/**
 * Whether an address is suppressed, decided in one place (docs/ARCHITECTURE.md "Suppression"):
 * the matching key is `emailHash` (SHA-256 of the trimmed, lower-cased address, README
 * "Management"), and an entry whose `expires_at` has passed counts as absent. SQL that decides
 * suppression inside another statement (accept's insert, the delivery claim) uses the fragments
 * below, never its own copy.
 */

/** The matching key of an address: trimmed and lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** SHA-256 hex of the normalized address: the unique lookup key (`blacklists.email_hash`). */
export function emailHash(email: string): string {
  return createHash('sha256').update(normalizeEmail(email), 'utf8').digest('hex');
}

/** An entry in force, for a `blacklists` row aliased `alias`. */
export function activeEntrySql(alias?: string): string {
  const col = alias ? `${alias}.expires_at` : 'expires_at';
  return `(${col} IS NULL OR ${col} > now())`;
}

/**
 * An entry of scope `all` or of the stream in the SQL expression `streamExpr` (README
 * "Streams"): a broadcast unsubscribe never stops transactional mail.
 */
export function scopeAppliesSql(alias: string, streamExpr: string): string {
  return `${alias}.scope IN ('all', ${streamExpr})`;
}

/**
 * True when the address whose emailHash is the SQL expression `hashExpr` is suppressed for
 * mail of the stream `streamExpr` (an SQL expression: a column or a quoted literal).
 */
export function suppressedByHashSql(hashExpr: string, streamExpr: string): string {
  return `EXISTS (SELECT 1 FROM blacklists sup
                   WHERE sup.email_hash = ${hashExpr} AND ${scopeAppliesSql('sup', streamExpr)}
                     AND ${activeEntrySql('sup')})`;
}

/**
 * ASCII whitespace that String.prototype.trim removes (TAB, LF, VT, FF, CR, space). For an
 * ASCII address the SQL below computes exactly `emailHash`; `lower(… COLLATE "C")` maps only
 * A–Z, whatever the database's locale, as toLowerCase does on ASCII.
 */
const ASCII_TRIM = `E' \\t\\n\\u000b\\f\\r'`;

/**
 * Suppression of the address in the SQL expression `addressExpr` (a column) for mail of the
 * stream `streamExpr`, as
 * `true`/`false`, or NULL when SQL cannot decide it exactly: for a non-ASCII address (Unicode
 * case mapping and whitespace differ between PostgreSQL and JavaScript), the caller asks
 * `BlacklistService.check` — the one definition — instead.
 */
export function suppressedAddressSql(addressExpr: string, streamExpr: string): string {
  return `CASE WHEN ${addressExpr} ~ '^[\\x01-\\x7f]*$'
            THEN ${suppressedByHashSql(
              `encode(sha256(convert_to(lower(btrim(${addressExpr}, ${ASCII_TRIM}) COLLATE "C"), 'UTF8')), 'hex')`,
              streamExpr,
            )}
          END`;
}
