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
import { postBatch, Scenario, ScenarioEnv, sendOne, startStack } from 'bench/faults/stack';

const downS = (): number => num('FAULT_REDIS_DOWN_S', 15);

/**
 * (b) Redis (our own, no persistence) is killed while `/send` runs at a steady rate and a
 * batch's jobs wait in it, then started again empty after FAULT_REDIS_DOWN_S. Every 202 must
 * end at Postal exactly once (the outbox sweeper re-enqueues what Redis lost), and the API
 * answers nothing worse than 503 service_unavailable meanwhile.
 */
export const redisRestart: Scenario = {
  letter: 'b',
  title: 'Redis restarted (empty) mid-load',
  deadlineS: () => downS() + 1200,
  async run(s: ScenarioEnv): Promise<void> {
    const rate = num('FAULT_RATE', 40);
    const batchN = num('FAULT_REDIS_BATCH', 2000);
    const st = await startStack(s);
    const { ledger, redis } = st;

    s.log(`/send at ${rate}/s…`);
    const load = new SteadyLoad(rate, () => sendOne(st, 'redis')).start();
    await sleep(10_000);
    s.log(`posting a batch of ${batchN} (its jobs will be waiting in Redis when it dies)…`);
    const b = await postBatch(st, batchN, 'redis-batch');
    s.checks.check('batch accepted', b.status === 202, `HTTP ${b.status}, ${b.acceptedIds.length}`);
    const batchDelivered = (): number =>
      b.acceptedIds.filter((id) => ledger.receipts.has(id)).length;
    await waitUntil(
      'part of the batch delivered',
      () => batchDelivered() >= batchN * 0.1,
      120_000,
      2,
    );

    await redis.stop('SIGKILL');
    const tDown = Date.now();
    const undeliveredAtCrash = ledger.accepted.size - ledger.deliveredCount();
    s.log(`Redis KILLED with ${undeliveredAtCrash} accepted messages not yet delivered`);
    await sleep(downS() * 1000);
    await redis.start();
    const tUp = Date.now();
    s.log(`Redis back (empty) after ${round((tUp - tDown) / 1000, 1)} s; load goes on 20 s`);
    await sleep(20_000);
    await load.stop();
    s.log(`load stopped: ${load.outcomes.length} requests; waiting for every 202 to be delivered…`);

    let lastLog = Date.now();
    await waitUntil(
      'every 202 delivered and recorded sent, the delivery queue drained',
      async () => {
        const rows = await statusCounts(st.dbUrl);
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          s.log(
            `  ${Math.round((Date.now() - tUp) / 1000)} s after restart: delivered ` +
              `${ledger.deliveredCount()}/${ledger.accepted.size}, rows ${JSON.stringify(rows)}`,
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
    const tAll = ledger.lastReceiptAt;
    await sleep(3000);

    const all = load.outcomes;
    const during = all.filter((o) => o.at >= tDown && o.at < tUp);
    const is503 = (o: Outcome): boolean => o.status === 503 && o.code === 'service_unavailable';
    const other5xx = all.filter((o) => o.status >= 500 && !is503(o));
    const sum = ledger.summary();
    const statuses = await statusCounts(st.dbUrl);
    Object.assign(s.figures, {
      send_rate_per_s: rate,
      redis_down_s: round((tUp - tDown) / 1000, 1),
      requests: all.length,
      statuses_overall: countBy(all, (o) => o.status),
      statuses_during_outage: countBy(during, (o) => o.status),
      service_unavailable_503_during_outage: during.filter(is503).length,
      service_unavailable_503_overall: all.filter(is503).length,
      other_5xx: other5xx.length,
      connection_errors: all.filter((o) => o.status === 0).length,
      latency_ms_during_outage: latencySummary(during.map((o) => o.ms)),
      latency_ms_202_during_outage: latencySummary(
        during.filter((o) => o.status === 202).map((o) => o.ms),
      ),
      accepted_during_outage: during.filter((o) => o.status === 202).length,
      accepted_total: sum.accepted,
      undelivered_when_redis_died: undeliveredAtCrash,
      all_delivered_s_after_redis_up: round((tAll - tUp) / 1000, 1),
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
        : `${all.filter(is503).length} × 503 service_unavailable`,
    );
    s.checks.check(
      'every request answered',
      all.every((o) => o.status !== 0) && load.skipped === 0,
      `${all.filter((o) => o.status === 0).length} connection errors, ${load.skipped} skipped`,
    );
    s.checks.check(
      'accepted mail delivered once afterwards',
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
