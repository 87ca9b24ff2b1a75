/**
 * PostgreSQL's integer column ranges. A number from a request (a cursor, an id) that reaches SQL
 * is checked against its column's type first: out of range it is a 400 or a 404, never the
 * database's "out of range for type integer" error surfacing as a 500 (README "API overview").
 */
export const PG_INTEGER_MAX = 2_147_483_647;
export const PG_BIGINT_MAX = 9_223_372_036_854_775_807n;

/** A positive `integer` (int4) id written in plain decimal digits, or null. */
export function parsePositiveInt4(raw: string): number | null {
  if (!/^[0-9]{1,10}$/.test(raw)) return null;
  const n = Number(raw);
  return n >= 1 && n <= PG_INTEGER_MAX ? n : null;
}

/** A positive `bigint` (int8) id written in plain decimal digits, as its canonical text, or null. */
export function parsePositiveInt8(raw: string): string | null {
  if (!/^[0-9]{1,19}$/.test(raw)) return null;
  const n = BigInt(raw);
  return n >= 1n && n <= PG_BIGINT_MAX ? n.toString() : null;
}
