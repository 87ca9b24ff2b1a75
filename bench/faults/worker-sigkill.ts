import { round, sleep } from 'bench/lib/stats';
import { num, query, statusCounts, waitUntil } from 'bench/faults/harness';
import { postBatch, Scenario, ScenarioEnv, startStack, whenSending } from 'bench/faults/stack';

const processingIds = async (dbUrl: string): Promise<Set<string>> =>
  new Set(
    (
      await query<{ id: string }>(
        dbUrl,
        `SELECT external_message_id AS id FROM email_logs WHERE status = 'processing'`,
      )
    ).map((r) => r.id),
  );

/**
 * (d) Two workers share a 5,000-message batch; one is killed with SIGKILL mid-batch and
 * restarted, as a supervisor would. Every message must be delivered. A message the dead worker
 * had handed to Postal but not yet recorded is sent again once its claim goes stale: such
 * duplicates are counted, must be claims the dead worker left open, and at most its concurrency.
 */
export const workerSigkill: Scenario = {
  letter: 'd',
  title: 'a worker killed with SIGKILL mid-batch',
  deadlineS: () => 1500,
  async run(s: ScenarioEnv): Promise<void> {
    const batch = num('FAULT_BATCH', 5000);
    const concurrency = num('FAULT_WORKER_CONCURRENCY', 50);
    const latencyMs = num('FAULT_POSTAL_LATENCY_MS', 50);
    const st = await startStack(s, {
      workers: 2,
      env: { WORKER_CONCURRENCY: String(concurrency) },
    });
    const { ledger, postal } = st;
    postal.delayMs = latencyMs;

    s.log(
      `posting a batch of ${batch} (Postal answers in ${latencyMs} ms, 2 workers × ${concurrency})…`,
    );
    const res = await postBatch(st, batch, 'sigkill');
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
    const victim = st.topo.get('worker-1');
    const inFlightAtKill = postal.inFlight;
    const deliveredAtKill = ledger.deliveredCount();
    victim.signal('SIGKILL');
    const tKill = Date.now();
    const exit = await victim.exited;
    s.log(
      `worker-1 KILLED (${exit.signal}) with ${deliveredAtKill} delivered and ${inFlightAtKill} ` +
        'send requests open at Postal (both workers)',
    );
    // The dead worker's claims stay `processing`; the live worker's settle within milliseconds.
    const first = await processingIds(st.dbUrl);
    await sleep(3000);
    const second = await processingIds(st.dbUrl);
    const orphaned = new Set([...first].filter((id) => second.has(id)));
    s.log(`${orphaned.size} claims left open by the dead worker; restarting it…`);
    const restarted = await st.topo.startWorker({ WORKER_CONCURRENCY: String(concurrency) });
    s.log(
      `${restarted.name} running; waiting for every message (stale claims are retried after 300 s)…`,
    );

    let lastLog = Date.now();
    await waitUntil(
      'every message delivered and recorded sent, the delivery queue drained',
      async () => {
        const rows = await statusCounts(st.dbUrl);
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          s.log(
            `  ${Math.round((Date.now() - tKill) / 1000)} s after the kill: delivered ` +
              `${ledger.deliveredCount()}/${ledger.accepted.size}, rows ${JSON.stringify(rows)}`,
          );
        }
        return (
          ledger.allDelivered() &&
          rows.sent === ledger.accepted.size &&
          (await st.queues.pending())?.['email-delivery'] === 0
        );
      },
      1_200_000,
      1000,
    );
    await sleep(3000);

    const sum = ledger.summary();
    const statuses = await statusCounts(st.dbUrl);
    const dupIds = sum.duplicated.map((d) => d.id);
    const dupOutsideOrphans = dupIds.filter((id) => !orphaned.has(id));
    // When the dead worker's claims were finally recorded sent (by the restarted or the live worker).
    const settled = orphaned.size
      ? await query<{ last: Date }>(
          st.dbUrl,
          `SELECT max(sent_at) AS last FROM email_logs WHERE external_message_id = ANY($1::uuid[])`,
          [[...orphaned]],
        )
      : [];
    const atPostalBeforeKill = [...orphaned].filter(
      (id) => (ledger.firstReceiptAt.get(id) ?? Infinity) <= tKill + latencyMs + 100,
    ).length;
    Object.assign(s.figures, {
      batch,
      worker_concurrency: concurrency,
      postal_latency_ms: latencyMs,
      delivered_at_kill: deliveredAtKill,
      postal_requests_open_at_kill: inFlightAtKill,
      claims_left_by_dead_worker: orphaned.size,
      orphaned_claims_postal_had_at_kill: atPostalBeforeKill,
      all_delivered_s_after_kill: round((ledger.lastReceiptAt - tKill) / 1000, 1),
      orphaned_claims_recorded_sent_s_after_kill: settled[0]?.last
        ? round((new Date(settled[0].last).getTime() - tKill) / 1000, 1)
        : null,
      delivered: sum.delivered,
      missing: sum.missing.length,
      duplicated_messages: sum.duplicated.length,
      extra_sends: sum.extraSends,
      duplicates_not_left_by_dead_worker: dupOutsideOrphans.length,
      unexpected_sends: sum.unexpected.length,
      final_statuses: statuses,
    });
    s.log(
      `duplicates: ${sum.duplicated.length} message(s) sent twice — each was in flight at Postal ` +
        'when the worker died (Postal had it, the worker never recorded it); bound: its concurrency',
    );

    s.checks.check(
      'every message delivered',
      sum.missing.length === 0 && statuses.sent === sum.accepted,
      `${sum.delivered}/${sum.accepted}, rows ${JSON.stringify(statuses)}`,
    );
    s.checks.check(
      `duplicates bounded by the dead worker's concurrency (${concurrency})`,
      sum.extraSends <= concurrency,
      `${sum.duplicated.length} message(s), ${sum.extraSends} extra send(s)`,
    );
    s.checks.check(
      'duplicates are claims the dead worker left open',
      dupOutsideOrphans.length === 0,
      `${dupOutsideOrphans.length} outside the ${orphaned.size} orphaned claims`,
    );
    s.checks.check(
      'nothing sent that was not accepted',
      sum.unexpected.length === 0,
      `${sum.unexpected.length}`,
    );
  },
};
