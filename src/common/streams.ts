/**
 * Message streams (README "Streams"): transactional mail (receipts, password resets) and
 * broadcast mail (newsletters) are kept apart for unsubscribes, suppression scope, delivery
 * priority, statistics and pausing.
 */
export const STREAMS = ['transactional', 'broadcast'] as const;
export type Stream = (typeof STREAMS)[number];

/** The SQL list of streams, for CHECK constraints. */
export const STREAMS_SQL = STREAMS.map((s) => `'${s}'`).join(', ');

/** Where a suppression entry applies (README "Streams"): every stream, or one of them. */
export const SUPPRESSION_SCOPES = ['all', ...STREAMS] as const;
export type SuppressionScope = (typeof SUPPRESSION_SCOPES)[number];

/** The SQL list of scopes, for CHECK constraints. */
export const SUPPRESSION_SCOPES_SQL = SUPPRESSION_SCOPES.map((s) => `'${s}'`).join(', ');

/**
 * The stream of a new message (README "Streams"): the request's, else its template's, else
 * the endpoint's default (`transactional` for /send, `broadcast` for /batch).
 */
export function resolveStream(
  requested: Stream | undefined,
  templateStream: Stream | null,
  endpointDefault: Stream,
): Stream {
  return requested ?? templateStream ?? endpointDefault;
}
