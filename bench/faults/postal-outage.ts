import type { PostalOutageMode } from 'test/fakes/fake-postal';
import { round, sleep } from 'bench/lib/stats';
import { num, percentile, statusCounts, waitUntil } from 'bench/faults/harness';
import { postBatch, Scenario, ScenarioEnv, startStack } from 'bench/faults/stack';

const outageS = (): number => num('FAULT_OUTAGE_S', 120);

/**
 * (a) FakePostal goes down when half of a 5,000-message batch has left and stays down for
 * FAULT_OUTAGE_S (120 s). Every message must end at Postal exactly once, and the retries must
 * follow the delivery backoff (30 s, 60 s, 120 s, … by default), read from the worker's logs.
 */
export const postalOutage: Scenario = {
  letter: 'a',
  title: 'Postal down in the middle of a batch',
  deadlineS: () => outageS() + 1200,
  async run(s: ScenarioEnv): Promise<void> {
    const batch = num('FAULT_BATCH', 5000);
    const mode: PostalOutageMode =
      process.env.FAULT_POSTAL_MODE === 'http-503' ? 'http-503' : 'refuse';
    const backoffMs = num('FAULT_BACKOFF_MS', 30_000);
    /** Times of the failed attempts of each message, from the worker's `delivery … retried` logs. */
    const failures = new Map<string, number[]>();
    let finalFailures = 0;
    const st = await startStack(s, {
      env: { DELIVERY_BACKOFF_MS: String(backoffMs) },
      onLine: (_proc, line) => {
        if (!line.startsWith('{') || !line.includes('"attempt"')) return;
        try {
          const o = JSON.parse(line) as {
            messageId?: string;
            attempt?: number;
            final?: boolean;
            time?: number;
          };
          if (!o.messageId || typeof o.attempt !== 'number') return;
          if (o.final) finalFailures += 1;
          const list = failures.get(o.messageId) ?? [];
          list.push(o.time ?? Date.now());
          failures.set(o.messageId, list);
        } catch {
          // Not a log line of ours.
        }
      },
    });
    const { postal, ledger, queues } = st;

    s.log(`posting a batch of ${batch} recipients…`);
    const res = await postBatch(st, batch, 'outage');
    s.checks.check(
      'batch accepted',
      res.status === 202 && res.acceptedIds.length === batch,
      `HTTP ${res.status}, ${res.acceptedIds.length} accepted in ${round(res.ms, 0)} ms`,
    );
    const downAt = Math.floor(res.acceptedIds.length * num('FAULT_DOWN_AT', 0.5));
    await waitUntil(`${downAt} delivered`, () => ledger.deliveredCount() >= downAt, 600_000, 2);

    await postal.goDown(mode);
    const tDown = Date.now();
    const deliveredAtDown = ledger.deliveredCount();
    s.log(
      `Postal DOWN (${mode}) with ${deliveredAtDown}/${ledger.accepted.size} delivered; ` +
        `up again in ${outageS()} s`,
    );
    let peakDelayed = 0;
    while (Date.now() - tDown < outageS() * 1000) {
      await sleep(Math.min(10_000, tDown + outageS() * 1000 - Date.now()));
      const c = await queues.counts('email-delivery');
      peakDelayed = Math.max(peakDelayed, c.delayed);
      s.log(
        `  down ${Math.round((Date.now() - tDown) / 1000)} s: delivered ${ledger.deliveredCount()}, ` +
          `jobs delayed ${c.delayed} / waiting ${c.waiting} / active ${c.active}, ` +
          `messages with a failed attempt ${failures.size}`,
      );
    }
    await postal.comeUp();
    const tUp = Date.now();
    s.log(`Postal UP after ${round((tUp - tDown) / 1000, 1)} s`);

    let lastLog = Date.now();
    await waitUntil(
      'every accepted message delivered',
      () => {
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          s.log(
            `  up ${Math.round((Date.now() - tUp) / 1000)} s: delivered ${ledger.deliveredCount()}/${ledger.accepted.size}`,
          );
        }
        return ledger.allDelivered();
      },
      backoffMs * 2 ** 6 + 600_000,
      250,
    );
    const tAll = ledger.lastReceiptAt;
    await waitUntil(
      'the delivery queue drained and every row sent',
      async () =>
        (await queues.pending())?.['email-delivery'] === 0 &&
        (await statusCounts(st.dbUrl)).sent === ledger.accepted.size,
      120_000,
      500,
    );
    // Anything a late duplicate job would still send shows up now.
    await sleep(3000);

    const sum = ledger.summary();
    const statuses = await statusCounts(st.dbUrl);
    let sentWhileDown = 0;
    for (const at of ledger.firstReceiptAt.values())
      if (at > tDown + 1000 && at < tUp) sentWhileDown++;

    // Backoff: the gap after the k-th failed attempt (to the next attempt or the success).
    const gapsAfter: number[][] = [];
    const attemptsHist: Record<string, number> = {};
    for (const [id, times] of failures) {
      const t = [...times].sort((a, b) => a - b);
      const next = [...t.slice(1), ledger.firstReceiptAt.get(id) ?? NaN];
      t.forEach((ft, k) => {
        if (!Number.isFinite(next[k])) return;
        (gapsAfter[k] ??= []).push((next[k] - ft) / 1000);
      });
      const attempts = String(t.length + 1);
      attemptsHist[attempts] = (attemptsHist[attempts] ?? 0) + 1;
    }
    attemptsHist['1'] = sum.delivered - failures.size;
    const backoff = gapsAfter.map((g, k) => ({
      after_failure: k + 1,
      messages: g.length,
      expected_s: (backoffMs / 1000) * 2 ** k,
      median_s: percentile(g, 50),
      min_s: round(Math.min(...g), 1),
      max_s: round(Math.max(...g), 1),
    }));
    // A message with the most failed attempts shows the whole backoff sequence.
    const example = [...failures.entries()].reduce<[string, number[]] | undefined>(
      (best, e) => (!best || e[1].length > best[1].length ? e : best),
      undefined,
    );
    const timeline = example
      ? [
          ...[...example[1]]
            .sort((a, b) => a - b)
            .map((t) => `failed +${round((t - tDown) / 1000, 1)} s`),
          `delivered +${round(((ledger.firstReceiptAt.get(example[0]) ?? 0) - tDown) / 1000, 1)} s`,
        ].join(', ')
      : 'n/a';

    Object.assign(s.figures, {
      batch,
      outage_mode: mode,
      outage_s: round((tUp - tDown) / 1000, 1),
      backoff_ms: backoffMs,
      delivered_before_outage: deliveredAtDown,
      sent_while_down: sentWhileDown,
      send_attempts_turned_away_on_open_connections: postal.rejectedWhileDown,
      peak_delayed_jobs_during_outage: peakDelayed,
      messages_with_failed_attempts: failures.size,
      final_failures: finalFailures,
      attempts_per_message: attemptsHist,
      retry_gaps: backoff,
      example_timeline_from_outage_start: timeline,
      all_delivered_s_after_postal_up: round((tAll - tUp) / 1000, 1),
      delivered: sum.delivered,
      missing: sum.missing.length,
      duplicated_messages: sum.duplicated.length,
      unexpected_sends: sum.unexpected.length,
      final_statuses: statuses,
    });
    s.log(`retry gaps: ${JSON.stringify(backoff)}`);
    s.log(`example message: ${timeline}`);

    s.checks.check(
      'outage hit the middle of the batch',
      deliveredAtDown > 0 && deliveredAtDown < sum.accepted && failures.size > 0,
      `${deliveredAtDown} delivered before, ${failures.size} messages saw a failed attempt`,
    );
    s.checks.check('nothing reached Postal while down', sentWhileDown === 0, `${sentWhileDown}`);
    s.checks.check(
      'nothing lost',
      sum.missing.length === 0 && statuses.sent === sum.accepted,
      `${sum.delivered}/${sum.accepted} delivered, statuses ${JSON.stringify(statuses)}`,
    );
    s.checks.check(
      'nothing sent twice',
      sum.duplicated.length === 0 && sum.unexpected.length === 0,
      `${sum.duplicated.length} duplicated, ${sum.unexpected.length} unexpected`,
    );
    s.checks.check('no message failed for good', finalFailures === 0, `${finalFailures}`);
    const first = backoff[0];
    const spaced = backoff.every(
      (b) => b.median_s >= 0.9 * b.expected_s && b.median_s <= 1.5 * b.expected_s + 5,
    );
    s.checks.check(
      'backoff visible (median gap after the k-th failure ≈ backoff × 2^(k-1))',
      Boolean(first) && spaced,
      backoff
        .map((b) => `#${b.after_failure}: ${b.median_s} s (expected ${b.expected_s})`)
        .join(', '),
    );
  },
};
