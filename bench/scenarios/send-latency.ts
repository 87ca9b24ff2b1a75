import { join } from 'node:path';
import type { Result } from 'autocannon';
import type { BenchEnv } from 'bench/lib/harness';
import { startTsThread } from 'bench/lib/threads';
import { round, sleep } from 'bench/lib/stats';
import type { SendLoadInput } from 'bench/scenarios/send-load.thread';

export interface SendLatencyResult {
  connections: number;
  durationS: number;
  /** Whether the app's delivery worker ran during the measurement (roles api,worker). */
  workersRunning: boolean;
  requests: number;
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
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

/**
 * (c) POST /api/v1/send latency under `connections` concurrent clients (autocannon in a
 * worker thread), each request to a fresh random recipient; a short warm-up run first.
 */
export async function runSendLatency(
  env: BenchEnv,
  opts: { connections: number; durationS: number; warmupS: number; workersRunning: boolean },
): Promise<SendLatencyResult> {
  if (opts.workersRunning) await env.appWorker.resume();
  else await env.appWorker.pause();
  const input = { url: env.baseUrl, apiKey: env.apiKey, connections: opts.connections };
  await load({ ...input, durationS: opts.warmupS });
  const r = await load({ ...input, durationS: opts.durationS });
  await sleep(500); // requests still in flight when the clock stopped
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
