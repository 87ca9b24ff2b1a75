import { round, sleep } from 'bench/lib/stats';
import { num, query, statusCounts, waitUntil } from 'bench/faults/harness';
import { postBatch, Scenario, ScenarioEnv, startStack, whenSending } from 'bench/faults/stack';

/**
 * (e) The only worker gets SIGTERM in the middle of a 5,000-message batch. It must let its
 * in-flight jobs finish (each recorded `sent`), take no new ones and exit 0; a new worker then
 * delivers the rest. Nothing lost, nothing sent twice.
 */
export const workerSigterm: Scenario = {
  letter: 'e',
  title: 'SIGTERM to the worker during a batch',
  deadlineS: () => 900,
  async run(s: ScenarioEnv): Promise<void> {
    const batch = num('FAULT_BATCH', 5000);
    const concurrency = num('FAULT_WORKER_CONCURRENCY', 50);
    const latencyMs = num('FAULT_POSTAL_LATENCY_MS', 50);
    const st = await startStack(s, {
      workers: 1,
      env: { WORKER_CONCURRENCY: String(concurrency) },
    });
    const { ledger, postal } = st;
    postal.delayMs = latencyMs;

    s.log(
      `posting a batch of ${batch} (Postal answers in ${latencyMs} ms, 1 worker × ${concurrency})…`,
    );
    const res = await postBatch(st, batch, 'sigterm');
    s.checks.check(
      'batch accepted',
      res.status === 202,
      `HTTP ${res.status}, ${res.acceptedIds.length}`,
    );
    await waitUntil(
      '40 % delivered',
      () => ledger.deliveredCount() >= res.acceptedIds.length * 0.4,
      600_000,
      2,
    );

    await whenSending(postal, Math.ceil(concurrency / 2));
    const worker = st.topo.get('worker-1');
    const claimed = (
      await query<{ id: string }>(
        st.dbUrl,
        `SELECT external_message_id AS id FROM email_logs WHERE status = 'processing'`,
      )
    ).map((r) => r.id);
    const inFlight = postal.inFlight;
    const deliveredAtTerm = ledger.deliveredCount();
    const tTerm = Date.now();
    worker.signal('SIGTERM');
    const exit = await worker.exited;
    const shutdownMs = Date.now() - tTerm;
    const deliveredAtExit = ledger.deliveredCount();
    s.log(
      `worker-1 got SIGTERM with ${inFlight} send requests open at Postal and ${claimed.length} ` +
        `claims; exited ${exit.code ?? exit.signal} after ${shutdownMs} ms`,
    );

    const rowsAtExit = await statusCounts(st.dbUrl);
    const claimedStatuses = claimed.length
      ? (
          await query<{ status: string; n: number }>(
            st.dbUrl,
            `SELECT status, count(*)::int AS n FROM email_logs
              WHERE external_message_id = ANY($1::uuid[]) GROUP BY status`,
            [claimed],
          )
        ).reduce<Record<string, number>>((a, r) => ({ ...a, [r.status]: r.n }), {})
      : {};
    const receiptsAtExit = [...ledger.receipts.values()].reduce((a, b) => a + b, 0);

    s.log('starting a new worker for the rest…');
    await st.topo.startWorker({ WORKER_CONCURRENCY: String(concurrency) });
    await waitUntil('every accepted message delivered', () => ledger.allDelivered(), 600_000, 500);
    await waitUntil(
      'the delivery queue drained and every row sent',
      async () =>
        (await st.queues.pending())?.['email-delivery'] === 0 &&
        (await statusCounts(st.dbUrl)).sent === ledger.accepted.size,
      180_000,
      500,
    );
    await sleep(3000);

    const sum = ledger.summary();
    const statuses = await statusCounts(st.dbUrl);
    Object.assign(s.figures, {
      batch,
      worker_concurrency: concurrency,
      postal_latency_ms: latencyMs,
      delivered_at_sigterm: deliveredAtTerm,
      postal_requests_open_at_sigterm: inFlight,
      claims_at_sigterm: claimed.length,
      claims_at_sigterm_statuses_after_exit: claimedStatuses,
      delivered_between_sigterm_and_exit: deliveredAtExit - deliveredAtTerm,
      shutdown_ms: shutdownMs,
      exit_code: exit.code,
      exit_signal: exit.signal,
      rows_at_exit: rowsAtExit,
      postal_receipts_at_exit: receiptsAtExit,
      delivered: sum.delivered,
      missing: sum.missing.length,
      duplicated_messages: sum.duplicated.length,
      unexpected_sends: sum.unexpected.length,
      final_statuses: statuses,
      run_s: round((Date.now() - tTerm) / 1000, 1),
    });

    s.checks.check(
      'in flight at SIGTERM',
      claimed.length > 0,
      `${claimed.length} claims, ${inFlight} at Postal`,
    );
    s.checks.check('exit code 0', exit.code === 0, `code ${exit.code}, signal ${exit.signal}`);
    s.checks.check(
      'in-flight jobs finished (every claim recorded sent, none left processing)',
      (rowsAtExit.processing ?? 0) === 0 && (claimedStatuses.sent ?? 0) === claimed.length,
      `claims now ${JSON.stringify(claimedStatuses)}, rows ${JSON.stringify(rowsAtExit)}`,
    );
    s.checks.check(
      'everything Postal got by the exit is recorded sent',
      receiptsAtExit === (rowsAtExit.sent ?? 0),
      `${receiptsAtExit} receipts, ${rowsAtExit.sent ?? 0} rows sent`,
    );
    s.checks.check(
      'none lost, none duplicated',
      sum.missing.length === 0 &&
        sum.duplicated.length === 0 &&
        sum.unexpected.length === 0 &&
        statuses.sent === sum.accepted,
      `${sum.delivered}/${sum.accepted}, ${sum.duplicated.length} twice, rows ${JSON.stringify(statuses)}`,
    );
  },
};
