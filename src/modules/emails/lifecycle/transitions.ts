import type { EmailStatus } from 'src/modules/emails/email-log.entity';

/**
 * The message state machine (docs/ARCHITECTURE.md "Message lifecycle"): the only source of
 * allowed status changes. Every status UPDATE in the code builds its guard from here
 * (`sourcesFor`), so a late, repeated or out-of-order event can never move a message along an
 * edge that is not in this table.
 */
export const TRANSITIONS: Readonly<Record<EmailStatus, readonly EmailStatus[]>> = {
  queued: ['processing', 'failed', 'canceled'],
  // `processing` → `processing`: a claim left behind by a worker that died is taken over.
  processing: [
    'processing',
    'queued',
    'sent',
    'delivered',
    'held',
    'bounced',
    'failed',
    'complained',
  ],
  sent: ['delivered', 'held', 'bounced', 'failed', 'complained'],
  held: ['delivered', 'bounced', 'failed', 'complained'],
  delivered: ['bounced', 'complained'],
  bounced: ['retry_scheduled', 'complained'],
  retry_scheduled: ['processing', 'queued', 'failed', 'complained', 'canceled'],
  failed: [],
  complained: [],
  canceled: [],
};

/** No edge leaves these. */
export const FINAL_STATUSES: readonly EmailStatus[] = (
  Object.keys(TRANSITIONS) as EmailStatus[]
).filter((s) => TRANSITIONS[s].length === 0);

export function canTransition(from: EmailStatus, to: EmailStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Why a message changes status. Each cause takes one edge kind of the table: it names its
 * target and the statuses it may leave, a subset of the table's sources of that target (a
 * provider's late HardFail may fail a `sent` message, the worker's permanent error may not).
 * Every change writes its `email_events` row (the outbox entry, with `from_status` and the
 * cause) in the same statement and is published as a MessageTransitioned (see
 * transition-publisher.ts). `internal`: the worker's lock on a message and its hand-backs —
 * not a step a sender sees, so the API's message timeline leaves them out
 * (docs/ARCHITECTURE.md "Transition events").
 */
export const CAUSES = {
  /** Accept: the row is created `queued` (no previous status). */
  accept: { to: 'queued', from: [], internal: false },
  /** The delivery worker claims a message (README "How mail flows", 2). */
  claim: { to: 'processing', from: ['queued', 'retry_scheduled'], internal: true },
  /** A claim older than the stale limit, left behind by a worker that died mid-send. */
  reclaim_stale: { to: 'processing', from: ['processing'], internal: true },
  /** Given back without using an attempt (no rate token, template worker unavailable). */
  release: { to: 'queued', from: ['processing'], internal: true },
  /** A retryable transport error: queued again for the queue's next attempt. */
  transient_error: { to: 'queued', from: ['processing'], internal: true },
  /** The outbox sweep resets claims nobody finished. */
  abandoned_claim: { to: 'queued', from: ['processing'], internal: true },
  /** A due soft-bounce retry goes back to the queue (retry_count + 1). */
  retry_due: { to: 'queued', from: ['retry_scheduled'], internal: true },
  /** The transport accepted the message. */
  provider_accepted: { to: 'sent', from: ['processing'], internal: false },
  /** Postal MessageSent (or the sandbox's). */
  delivered: { to: 'delivered', from: ['processing', 'sent', 'held'], internal: false },
  /** Postal MessageHeld. */
  held: { to: 'held', from: ['processing', 'sent'], internal: false },
  /** A hard or soft bounce. */
  bounce: { to: 'bounced', from: ['processing', 'sent', 'held', 'delivered'], internal: false },
  /** A soft bounce with retries left. */
  schedule_retry: { to: 'retry_scheduled', from: ['bounced'], internal: false },
  /** The worker's permanent failure (suppressed, template, transport message error). */
  delivery_failed: {
    to: 'failed',
    from: ['queued', 'processing', 'retry_scheduled'],
    internal: false,
  },
  /** A final failure decided by the provider (Postal's maximum attempts, spam threshold). */
  provider_failed: { to: 'failed', from: ['processing', 'sent', 'held'], internal: false },
  /** A complaint (API, ARF report, sandbox). */
  complaint: {
    to: 'complained',
    from: ['sent', 'delivered', 'held', 'bounced', 'retry_scheduled', 'processing'],
    internal: false,
  },
  /**
   * Canceled before it was handed to the provider (README "Cancel and reschedule"): only from
   * the statuses no worker holds, so a message being sent is never canceled.
   */
  cancel: { to: 'canceled', from: ['queued', 'retry_scheduled'], internal: false },
} as const satisfies Record<
  string,
  { to: EmailStatus; from: readonly EmailStatus[]; internal: boolean }
>;

export type TransitionCause = keyof typeof CAUSES;

/** Causes whose events the API's message timeline leaves out (see `internal` above). */
export const INTERNAL_CAUSES: readonly TransitionCause[] = (
  Object.keys(CAUSES) as TransitionCause[]
).filter((c) => CAUSES[c].internal);

/** Causes driven by the provider or the recipient (events), as opposed to the worker's own. */
export const OUTCOME_CAUSES: readonly TransitionCause[] = [
  'delivered',
  'held',
  'bounce',
  'schedule_retry',
  'provider_failed',
  'complaint',
];

/**
 * The statuses `cause` may leave, checked against the table: the guard of its UPDATE
 * (`status = ANY(…)`). Throws for a cause the table does not allow (caught by the unit test
 * that walks every cause, and at module load below).
 */
export function sourcesFor(cause: TransitionCause): EmailStatus[] {
  const { to, from } = CAUSES[cause];
  for (const f of from) {
    if (!canTransition(f, to)) {
      throw new Error(`Transition ${cause} (${f} → ${to}) is not in the transition table`);
    }
  }
  return [...from];
}

export function targetOf(cause: TransitionCause): EmailStatus {
  return CAUSES[cause].to;
}

/** `<column> IN ('a', 'b')` (or `= 'a'`): a guard inlined in SQL (the values are this file's constants). */
export function statusGuardSql(column: string, cause: TransitionCause): string {
  const from = sourcesFor(cause);
  if (from.length === 0) return 'false';
  // One status: a plain `=`, so the partial indexes on status (e.g. retry_scheduled) match.
  if (from.length === 1) return `${column} = '${from[0]}'`;
  return `${column} IN (${from.map((s) => `'${s}'`).join(', ')})`;
}

/**
 * Progress along the lifecycle, for "never backwards": an outcome never lowers it. Only the
 * worker's own causes (claim, hand-backs, a due retry) go to a lower rank, and only before
 * the message left or as a counted retry (README "How mail flows").
 */
export const STATUS_RANK: Readonly<Record<EmailStatus, number>> = {
  queued: 0,
  processing: 1,
  sent: 2,
  held: 3,
  delivered: 4,
  bounced: 5,
  retry_scheduled: 6,
  failed: 7,
  complained: 7,
  canceled: 7,
};

// Fail at load, not at the first event, if a cause strays from the table.
for (const cause of Object.keys(CAUSES) as TransitionCause[]) sourcesFor(cause);
