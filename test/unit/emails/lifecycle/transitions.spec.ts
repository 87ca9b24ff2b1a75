import fc from 'fast-check';
import { EMAIL_STATUSES, type EmailStatus } from 'src/modules/emails/email-log.entity';
import {
  canTransition,
  CAUSES,
  FINAL_STATUSES,
  INTERNAL_CAUSES,
  OUTCOME_CAUSES,
  sourcesFor,
  STATUS_RANK,
  statusGuardSql,
  TRANSITIONS,
  type TransitionCause,
} from 'src/modules/emails/lifecycle/transitions';

const ALL_CAUSES = Object.keys(CAUSES) as TransitionCause[];

/** What the guarded UPDATE of `cause` does to a message in `status` (the SQL's WHERE). */
const apply = (status: EmailStatus, cause: TransitionCause): EmailStatus =>
  sourcesFor(cause).includes(status) ? CAUSES[cause].to : status;

describe('the transition table (docs/ARCHITECTURE.md "Message lifecycle")', () => {
  it('has an entry for every status and names only known statuses', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...EMAIL_STATUSES].sort());
    for (const next of Object.values(TRANSITIONS))
      for (const s of next) expect(EMAIL_STATUSES).toContain(s);
  });

  it('makes failed, complained and canceled final, and only those', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['canceled', 'complained', 'failed']);
  });

  it.each(ALL_CAUSES)('cause %s leaves only statuses the table allows', (cause) => {
    for (const from of sourcesFor(cause)) expect(canTransition(from, CAUSES[cause].to)).toBe(true);
  });

  it('uses every edge of the table for some cause (no dead edges)', () => {
    for (const from of EMAIL_STATUSES)
      for (const to of TRANSITIONS[from])
        expect(ALL_CAUSES.some((c) => CAUSES[c].to === to && sourcesFor(c).includes(from))).toBe(
          true,
        );
  });

  it('marks as internal exactly the worker’s claim, its hand-backs and the sweeps’ requeues', () => {
    expect([...INTERNAL_CAUSES].sort()).toEqual(
      [
        'abandoned_claim',
        'claim',
        'reclaim_stale',
        'release',
        'retry_due',
        'transient_error',
      ].sort(),
    );
    // What a provider or recipient caused is never hidden from the API's timeline.
    for (const cause of OUTCOME_CAUSES) expect(INTERNAL_CAUSES).not.toContain(cause);
    // Internal moves only go back to the queue or into the worker's hands.
    for (const cause of INTERNAL_CAUSES)
      expect(['queued', 'processing']).toContain(CAUSES[cause].to);
  });

  it('builds the SQL guard of a cause from its sources', () => {
    expect(statusGuardSql('e.status', 'delivered')).toBe(
      "e.status IN ('processing', 'sent', 'held')",
    );
    expect(statusGuardSql('status', 'retry_due')).toBe("status = 'retry_scheduled'");
  });

  it('lets outcomes only move forward; the worker rewinds only before sending or for a retry', () => {
    for (const cause of ALL_CAUSES)
      for (const from of sourcesFor(cause)) {
        const to = CAUSES[cause].to;
        if (OUTCOME_CAUSES.includes(cause))
          expect(STATUS_RANK[to]).toBeGreaterThan(STATUS_RANK[from]);
        else if (STATUS_RANK[to] <= STATUS_RANK[from])
          expect(['processing', 'retry_scheduled']).toContain(from);
      }
  });

  it('property: no sequence of events moves a message out of a final state or backwards', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<EmailStatus>(...EMAIL_STATUSES),
        fc.array(fc.constantFrom(...ALL_CAUSES), { maxLength: 40 }),
        (start, causes) => {
          let status = start;
          for (const cause of causes) {
            const next = apply(status, cause);
            if (next !== status || sourcesFor(cause).includes(status)) {
              expect(canTransition(status, next)).toBe(true);
            }
            if (FINAL_STATUSES.includes(status)) expect(next).toBe(status);
            if (OUTCOME_CAUSES.includes(cause))
              expect(STATUS_RANK[next]).toBeGreaterThanOrEqual(STATUS_RANK[status]);
            // Once the message left (sent or later), only a scheduled retry brings it back.
            if (STATUS_RANK[status] >= STATUS_RANK.sent && STATUS_RANK[next] < STATUS_RANK[status])
              expect(status).toBe('retry_scheduled');
            status = next;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: outcome events alone, in any order and repeated, never lower the status', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...OUTCOME_CAUSES), { maxLength: 30 }), (causes) => {
        let status: EmailStatus = 'sent';
        for (const cause of causes) {
          const next = apply(status, cause);
          expect(STATUS_RANK[next]).toBeGreaterThanOrEqual(STATUS_RANK[status]);
          status = next;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
