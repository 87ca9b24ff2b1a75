import { round, sleep } from 'bench/lib/stats';
import {
  countBy,
  latencySummary,
  num,
  Outcome,
  statusCounts,
  SteadyLoad,
  waitUntil,
} from 'bench/faults/harness';
import { Scenario, ScenarioEnv, sendOne, startStack } from 'bench/faults/stack';

const downS = (): number => num('FAULT_PG_DOWN_S', 15);

interface HealthSample {
  at: number;
  status: number;
  ms: number;
  database?: string;
}

/**
 * (c) Our own PostgreSQL cluster is stopped (`pg_ctl stop -m fast`, as an operator restart
 * does) while `/send` runs at a steady rate, and started again after FAULT_PG_DOWN_S. The API
 * must answer 503 service_unavailable at once (not hang), /health must show the database down
 * then up, the app must recover by itself, and every 202 must end at Postal exactly once.
 */
export const postgresRestart: Scenario = {
  letter: 'c',
  title: 'PostgreSQL restarted mid-load',
  deadlineS: () => downS() + 1200,
  async run(s: ScenarioEnv): Promise<void> {
    const rate = num('FAULT_RATE', 40);
    const p99MaxMs = num('FAULT_503_P99_MAX_MS', 1000);
    const latencyMs = num('FAULT_POSTAL_LATENCY_MS', 50);
    /** Messages Postal accepted while PostgreSQL could not record them (the worker says so). */
    const recordedLate = new Set<string>();
    const st = await startStack(s, {
      privatePostgres: true,
      onLine: (_proc, line) => {
        const id = /message (\d+) sent, not yet recorded/.exec(line)?.[1];
        if (id) recordedLate.add(id);
      },
    });
    const { ledger, pg } = st;
    // Sends in flight when PostgreSQL goes: Postal has them, the worker cannot record them yet.
    st.postal.delayMs = latencyMs;

    const health: HealthSample[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        const r = await st.api.call('GET', '/health', { auth: false });
        const details = (r.body?.details ?? r.body?.info ?? {}) as Record<
          string,
          { status?: string }
        >;
        health.push({ at, status: r.status, ms: r.ms, database: details.database?.status });
        await sleep(250);
      }
    })();

    s.log(`/send at ${rate}/s, /health every 250 ms…`);
    const load = new SteadyLoad(rate, () => sendOne(st, 'pg')).start();
    await sleep(10_000);

    const tStop = Date.now();
    await pg!.stop('fast');
    const tDown = Date.now();
    s.log(`PostgreSQL STOPPED (pg_ctl stop -m fast took ${tDown - tStop} ms)`);
    await sleep(downS() * 1000);
    await pg!.start();
    const tUp = Date.now();
    s.log(`PostgreSQL STARTED again (${round((tUp - tStop) / 1000, 1)} s after the stop began)`);
    await sleep(30_000);
    await load.stop();
    polling = false;
    await poller;
    // Claims still open 30 s after the restart: messages Postal has that were never recorded.
    const rowsAfterLoad = await statusCounts(st.dbUrl);
    s.log(`load stopped: ${load.outcomes.length} requests; waiting for every 202 to be delivered…`);

    let lastLog = Date.now();
    await waitUntil(
      'every 202 delivered and recorded sent, the delivery queue drained',
      async () => {
        const rows = await statusCounts(st.dbUrl);
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          s.log(
            `  delivered ${ledger.deliveredCount()}/${ledger.accepted.size}, rows ${JSON.stringify(rows)}`,
          );
        }
        return (
          ledger.allDelivered() &&
          rows.sent === ledger.accepted.size &&
          (await st.queues.pending())?.['email-delivery'] === 0
        );
      },
      900_000,
      1000,
    );
    await sleep(3000);

    const all = load.outcomes;
    const phase = (o: { at: number }): string =>
      o.at < tStop ? 'before' : o.at < tUp ? 'down' : 'after';
    const is503 = (o: Outcome): boolean => o.status === 503 && o.code === 'service_unavailable';
    const the503s = all.filter(is503);
    const other5xx = all.filter((o) => o.status >= 500 && !is503(o));
    const down = all.filter((o) => phase(o) === 'down');
    const healthDown = health.filter((h) => h.status !== 200);
    const firstHealthDown = healthDown.find((h) => h.at >= tStop);
    const healthAfter = health.filter((h) => h.at >= tUp);
    const firstHealthUp = healthAfter.find((h) => h.status === 200 && h.database === 'up');
    const first202After = all.find((o) => o.at >= tUp && o.status === 202);
    const healthStuckDown = healthAfter.filter(
      (h) => firstHealthUp && h.at > firstHealthUp.at && h.status !== 200,
    );
    const sum = ledger.summary();
    const statuses = await statusCounts(st.dbUrl);
    const lat503 = latencySummary(the503s.map((o) => o.ms));
    const maxAny = round(Math.max(0, ...all.map((o) => o.ms)), 1);

    Object.assign(s.figures, {
      send_rate_per_s: rate,
      postal_latency_ms: latencyMs,
      postgres_down_s: round((tUp - tStop) / 1000, 1),
      requests: all.length,
      statuses_before: countBy(
        all.filter((o) => phase(o) === 'before'),
        (o) => o.status,
      ),
      statuses_while_down: countBy(down, (o) => o.status),
      statuses_after: countBy(
        all.filter((o) => phase(o) === 'after'),
        (o) => o.status,
      ),
      service_unavailable_503: the503s.length,
      latency_ms_503: lat503,
      latency_ms_while_down_all: latencySummary(down.map((o) => o.ms)),
      slowest_request_ms: maxAny,
      other_5xx: other5xx.length,
      health_samples: health.length,
      health_first_non_200_s_after_stop: firstHealthDown
        ? round((firstHealthDown.at - tStop) / 1000, 2)
        : null,
      health_database_status_while_down: firstHealthDown
        ? `${firstHealthDown.status} database=${firstHealthDown.database}`
        : null,
      health_latency_ms_while_down: latencySummary(
        health.filter((h) => phase(h) === 'down').map((h) => h.ms),
      ),
      health_200_again_s_after_start: firstHealthUp
        ? round((firstHealthUp.at - tUp) / 1000, 2)
        : null,
      first_202_s_after_start: first202After ? round((first202After.at - tUp) / 1000, 2) : null,
      accepted_total: sum.accepted,
      rows_processing_30_s_after_start: rowsAfterLoad.processing ?? 0,
      sent_while_down_recorded_after_restart: recordedLate.size,
      delivered: sum.delivered,
      missing: sum.missing.length,
      duplicated_messages: sum.duplicated.length,
      unexpected_sends: sum.unexpected.length,
      final_statuses: statuses,
    });

    s.checks.check(
      'no 5xx but 503 service_unavailable',
      other5xx.length === 0,
      other5xx.length
        ? JSON.stringify(countBy(other5xx, (o) => `${o.status} ${o.code}`))
        : `${the503s.length} × 503`,
    );
    s.checks.check(
      `503s are quick (p99 <= ${p99MaxMs} ms)`,
      the503s.length > 0 && lat503.p99 <= p99MaxMs,
      `${the503s.length} × 503: p50 ${lat503.p50} ms, p99 ${lat503.p99} ms, max ${lat503.max} ms`,
    );
    s.checks.check(
      'no request hangs (every answer within 5 s)',
      maxAny <= 5000 && all.every((o) => o.status !== 0) && load.skipped === 0,
      `slowest ${maxAny} ms, ${all.filter((o) => o.status === 0).length} connection errors, ${load.skipped} skipped`,
    );
    s.checks.check(
      'health shows the outage (503, database down)',
      Boolean(
        firstHealthDown && firstHealthDown.status === 503 && firstHealthDown.database === 'down',
      ),
      String(s.figures.health_database_status_while_down),
    );
    s.checks.check(
      'recovers by itself (health 200 and 202s within 30 s of the start)',
      Boolean(
        firstHealthUp &&
        first202After &&
        firstHealthUp.at - tUp <= 30_000 &&
        first202After.at - tUp <= 30_000 &&
        healthStuckDown.length === 0,
      ),
      `health up after ${String(s.figures.health_200_again_s_after_start)} s, first 202 after ` +
        `${String(s.figures.first_202_s_after_start)} s, ${healthStuckDown.length} non-200 later`,
    );
    s.checks.check(
      'what Postal accepted meanwhile is recorded sent once PostgreSQL is back (none left processing 30 s on)',
      (rowsAfterLoad.processing ?? 0) === 0,
      `${rowsAfterLoad.processing ?? 0} processing, ${recordedLate.size} recorded after the restart`,
    );
    s.checks.check(
      'every 202 delivered once',
      sum.missing.length === 0 && sum.duplicated.length === 0 && statuses.sent === sum.accepted,
      `${sum.delivered}/${sum.accepted} delivered, ${sum.duplicated.length} twice, rows ${JSON.stringify(statuses)}`,
    );
    s.checks.check(
      'nothing sent that was not accepted',
      sum.unexpected.length === 0,
      `${sum.unexpected.length}`,
    );
  },
};
