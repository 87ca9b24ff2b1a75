import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Result } from 'autocannon';
import { BareServer } from 'bench/lib/bare-server-process';
import { batchBody, recipients } from 'bench/lib/content';
import type { BenchEnv } from 'bench/lib/harness';
import { startTsThread } from 'bench/lib/threads';
import { round, sleep } from 'bench/lib/stats';
import type { SendLoadInput } from 'bench/scenarios/send-load.thread';

export interface SendLatencyResult {
  connections: number;
  durationS: number;
  /** Whether the app's delivery worker ran during the measurement (roles api,worker). */
  workersRunning: boolean;
  /**
   * With `drainMessages`: the batch backlog the worker was draining — messages posted, how
   * many Postal received during the measured run, and how many jobs still waited at its end
   * (above 0: the worker was busy with the batch throughout).
   */
  drain?: { messages: number; deliveredDuring: number; waitingAtEnd: number };
  requests: number;
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Over several rounds (`meanOfRounds`): each round's p99, in order. */
  roundsP99?: number[];
}

/**
 * Rounds of one figure taken in turn with its baseline's rounds, as one result: the latency
 * percentiles and the rate are the means over the rounds (max is the maximum), the counts are
 * sums, and `roundsP99` keeps each round's p99. Alternating rounds spread a change in the
 * host's load over both sides of a ratio instead of landing on one (bench/README.md).
 */
export function meanOfRounds(rounds: SendLatencyResult[]): SendLatencyResult {
  if (rounds.length === 0) throw new Error('meanOfRounds: no rounds');
  const mean = (pick: (r: SendLatencyResult) => number): number =>
    round(rounds.reduce((sum, r) => sum + pick(r), 0) / rounds.length, 2);
  const sum = (pick: (r: SendLatencyResult) => number): number =>
    rounds.reduce((total, r) => total + pick(r), 0);
  const drains = rounds.flatMap((r) => (r.drain ? [r.drain] : []));
  return {
    connections: rounds[0].connections,
    durationS: sum((r) => r.durationS),
    workersRunning: rounds[0].workersRunning,
    ...(drains.length
      ? {
          drain: {
            messages: drains[0].messages,
            deliveredDuring: Math.round(
              drains.reduce((t, d) => t + d.deliveredDuring, 0) / drains.length,
            ),
            waitingAtEnd: Math.round(
              drains.reduce((t, d) => t + d.waitingAtEnd, 0) / drains.length,
            ),
          },
        }
      : {}),
    requests: sum((r) => r.requests),
    reqPerSec: mean((r) => r.reqPerSec),
    latencyMs: {
      p50: mean((r) => r.latencyMs.p50),
      p90: mean((r) => r.latencyMs.p90),
      p99: mean((r) => r.latencyMs.p99),
      max: Math.max(...rounds.map((r) => r.latencyMs.max)),
      mean: mean((r) => r.latencyMs.mean),
    },
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    roundsP99: rounds.map((r) => r.latencyMs.p99),
  };
}

function load(input: SendLoadInput): Promise<Result> {
  return new Promise((resolve, reject) => {
    const worker = startTsThread(join(__dirname, 'send-load.thread.ts'), input);
    worker.once('message', (msg: Result | { error: string }) => {
      if ('error' in msg && typeof msg.error === 'string') reject(new Error(msg.error));
      else resolve(msg as Result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

function summary(
  r: Result,
  opts: { connections: number; durationS: number; workersRunning: boolean },
): SendLatencyResult {
  return {
    connections: opts.connections,
    durationS: opts.durationS,
    workersRunning: opts.workersRunning,
    requests: r.requests.total,
    reqPerSec: round(r.requests.total / (r.duration || opts.durationS)),
    latencyMs: {
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      mean: round(r.latency.mean, 2),
    },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

/** Delivery jobs waiting (a batch is broadcast: its jobs wait in the prioritized set). */
export async function waitingJobs(env: BenchEnv): Promise<number> {
  const counts = await env.appQueue.getJobCounts('waiting', 'prioritized');
  return (counts.waiting ?? 0) + (counts.prioritized ?? 0);
}

/** The batch API's limit per request. */
const BATCH_MAX = 10_000;

/**
 * (c) POST /api/v1/send latency under `connections` concurrent clients (autocannon in a
 * worker thread), each request to a fresh random recipient; a short warm-up run first. With
 * `drainMessages`, batches of that many recipients are accepted first and the worker drains
 * them while /send is measured (it must be running).
 */
export async function runSendLatency(
  env: BenchEnv,
  opts: {
    connections: number;
    durationS: number;
    warmupS: number;
    workersRunning: boolean;
    drainMessages?: number;
  },
): Promise<SendLatencyResult> {
  // The backlog is accepted while delivery is paused, so that it is whole when the load starts.
  await env.appWorker.pause();
  const drainBatchIds: string[] = [];
  for (let i = 0; i < (opts.drainMessages ?? 0); i += BATCH_MAX) {
    const n = Math.min(BATCH_MAX, opts.drainMessages! - i);
    const res = await env.post('/api/v1/batch', batchBody(recipients(`drain-${randomUUID()}`, n)));
    if (res.status !== 202) throw new Error(`batch answered ${res.status}`);
    drainBatchIds.push((res.body as { batch_id: string }).batch_id);
  }
  if (opts.workersRunning) await env.appWorker.resume();
  const input = { url: env.baseUrl, apiKey: env.apiKey, connections: opts.connections };
  await load({ ...input, durationS: opts.warmupS });
  const before = env.postal.accepted;
  const r = await load({ ...input, durationS: opts.durationS });
  const deliveredDuring = env.postal.accepted - before;
  const waitingAtEnd = await waitingJobs(env);
  await sleep(500); // requests still in flight when the clock stopped
  if (drainBatchIds.length) {
    // What is left of the backlog would load the next figure: drop the jobs and cancel every
    // row still queued, whose job went with them (else the outbox sweeper of the default start
    // would hand it to the queue again a minute later).
    await env.appQueue.drain(true);
    await env.pool.query(
      `UPDATE email_logs SET status = 'canceled', updated_at = now() WHERE status = 'queued'`,
    );
  }
  return {
    ...summary(r, opts),
    ...(drainBatchIds.length
      ? { drain: { messages: opts.drainMessages!, deliveredDuring, waitingAtEnd } }
      : {}),
  };
}

/**
 * The bare baseline of (c): the same load (connections, warm-up, duration, bodies) against a
 * bare `node:http` handler in a process of its own (bench/lib/bare-server.ts) that parses the
 * body, inserts the row with one statement and adds one job to a queue no worker reads.
 */
export async function runBareSendLatency(
  env: BenchEnv,
  opts: { connections: number; durationS: number; warmupS: number },
): Promise<SendLatencyResult> {
  const queue = env.rawQueue('bench-bare-send');
  const batchId = randomUUID();
  const server = await BareServer.start({
    kind: 'send',
    databaseUrl: env.config.databaseUrl,
    poolSize: env.config.dbPoolSize,
    queueName: queue.name,
    bullConnection: env.bullConnection,
    bullPrefix: env.bullPrefix,
    row: { apiKeyId: env.apiKeyId, templateId: null, batchId },
  });
  try {
    const input = { url: server.url, apiKey: env.apiKey, connections: opts.connections };
    await load({ ...input, durationS: opts.warmupS });
    const r = await load({ ...input, durationS: opts.durationS });
    await sleep(500);
    return summary(r, { ...opts, workersRunning: false });
  } finally {
    await server.stop();
    await queue.obliterate({ force: true });
    // The rows are not for delivery: out of the outbox sweeper's way.
    await env.pool.query(
      `UPDATE email_logs SET status = 'canceled', updated_at = now()
        WHERE batch_id = $1 AND status = 'queued'`,
      [batchId],
    );
  }
}
