import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  batchBody,
  deliveryJob,
  RAW_INSERT_SQL,
  rawRows,
  recipients,
  SENDER,
} from 'bench/lib/content';
import type { BenchEnv } from 'bench/lib/harness';
import { median, round } from 'bench/lib/stats';

export interface BatchAcceptResult {
  recipients: number;
  runs: number;
  /** Wall time of POST /api/v1/batch until its 202 body is read (ms), per run. */
  appMs: number[];
  /** Wall time of the raw unnest insert + addBulk of the same rows and jobs (ms), per run. */
  rawMs: number[];
  /** Messages Postal received while each app run's request was open (delivery was running). */
  deliveredDuringApp: number[];
  appMedianMs: number;
  rawMedianMs: number;
  /** raw median / app median: 1 means as fast as the raw baseline. */
  ratio: number;
}

const BULK_CHUNK = 1000;

/**
 * (a) Accepting a batch over HTTP against the least any implementation must do: one unnest
 * INSERT of the same rows (with their `queued` events) and addBulk of the same jobs to a queue
 * no worker reads. As a newcomer runs it, delivery is not paused: the app's worker delivers the
 * batches accepted before (the warm-up's first) while each app and raw run takes place, so both
 * sides share the machine with it; runs alternate app/raw after one warm-up each. At the end the
 * backlog is dropped and its rows cancelled.
 */
export async function runBatchAccept(
  env: BenchEnv,
  opts: { recipients: number; runs: number },
): Promise<BatchAcceptResult> {
  const rawQueue = env.rawQueue('bench-raw-accept');
  const batchIds: string[] = [];
  await env.appWorker.resume();

  let templateId = 0;
  let sender = SENDER;
  const deliveredDuringApp: number[] = [];
  const appRun = async (run: string): Promise<number> => {
    const body = batchBody(recipients(run, opts.recipients));
    const before = env.postal.accepted;
    const t0 = performance.now();
    const res = await env.post('/api/v1/batch', body);
    const ms = performance.now() - t0;
    deliveredDuringApp.push(env.postal.accepted - before);
    const answer = res.body as { accepted?: number; batch_id?: string };
    if (res.status !== 202 || answer.accepted !== opts.recipients) {
      throw new Error(`batch answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    batchIds.push(answer.batch_id!);
    if (!templateId) {
      const { rows } = await env.pool.query(
        'SELECT template_id, sender FROM email_logs WHERE batch_id = $1 LIMIT 1',
        [answer.batch_id],
      );
      templateId = rows[0].template_id as number;
      sender = rows[0].sender as string;
    }
    return ms;
  };

  const rawRun = async (run: string): Promise<number> => {
    const list = recipients(run, opts.recipients);
    const batchId = randomUUID();
    batchIds.push(batchId);
    const t0 = performance.now();
    const rows = rawRows(list, { apiKeyId: env.apiKeyId, templateId, sender, batchId });
    await env.pool.query(RAW_INSERT_SQL, rows.params);
    for (let i = 0; i < list.length; i += BULK_CHUNK) {
      await rawQueue.addBulk(
        list.slice(i, i + BULK_CHUNK).map((r, j) => deliveryJob(rows.ids[i + j], r.to)),
      );
    }
    return performance.now() - t0;
  };

  // Warm-up (JIT, connection pools, the inline template row; its batch is the backlog the
  // worker delivers meanwhile), then measured pairs.
  await appRun('acc-warm');
  deliveredDuringApp.pop();
  await rawRun('raw-warm');
  const appMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    appMs.push(await appRun(`acc-${i}`));
    rawMs.push(await rawRun(`raw-${i}`));
  }

  // The rest of the backlog is not delivered: drop its jobs and cancel its rows (else the
  // default start's outbox sweeper would hand them to the queue again a minute later).
  await env.appQueue.drain(true);
  await rawQueue.obliterate({ force: true });
  await env.pool.query(
    `UPDATE email_logs SET status = 'canceled', updated_at = now()
      WHERE batch_id = ANY($1::uuid[]) AND status = 'queued'`,
    [batchIds],
  );

  const appMedianMs = median(appMs);
  const rawMedianMs = median(rawMs);
  return {
    recipients: opts.recipients,
    runs: opts.runs,
    appMs: appMs.map((v) => round(v)),
    rawMs: rawMs.map((v) => round(v)),
    deliveredDuringApp,
    appMedianMs: round(appMedianMs),
    rawMedianMs: round(rawMedianMs),
    ratio: round(rawMedianMs / appMedianMs, 3),
  };
}
