/**
 * Message streams (README "Streams"): transactional mail (receipts, password resets) and
 * broadcast mail (newsletters) are kept apart for unsubscribes, suppression scope, delivery
 * priority, statistics and pausing.
 */
export const STREAMS = ['transactional', 'broadcast'] as const;
export type Stream = (typeof STREAMS)[number];

/** The SQL list of streams, for CHECK constraints. */
export const STREAMS_SQL = STREAMS.map((s) => `'${s}'`).join(', ');
