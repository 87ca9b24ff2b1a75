import { CONTENT } from 'bench/lib/content';
import type { BenchEnv } from 'bench/lib/harness';
import { round, sleep } from 'bench/lib/stats';
import { meanOfRounds, runSendLatency, SendLatencyResult } from 'bench/scenarios/send-latency';

/**
 * (t) Hostile templates (README "Security": template limits; issue 11's probe): while one loop
 * posts hostile sends — loops nested over @root lists, 30,000 mustaches, an 820 KB template,
 * and templates just under the limits with fresh content each time (nothing cached) — the
 * normal POST /api/v1/send load of (c) runs and /health/live is polled every 20 ms.
 *
 * Its "usual figure" is the same /send load on the same running app, delivery included, without
 * the hostile stream: rounds with and without it alternate (as (c)'s do, bench/README.md), so
 * the ratio isolates what the hostile stream costs the normal traffic.
 * Targets: /health/live p99 < 100 ms; /send p99 within 2× of the rounds without the stream.
 */
export interface TemplateAbuseResult {
  hostile: { sent: number; byStatus: Record<string, number> };
  healthLive: { probes: number; p50: number; p99: number; max: number; failures: number };
  /** The normal /send load while the hostile stream runs (mean of the rounds). */
  send: SendLatencyResult;
  /** The same load, the same app with delivery running, without the hostile stream. */
  usual: SendLatencyResult;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const items = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The hostile bodies, one shape per call in turn. Each is otherwise a valid send (sender
 * included), so it reaches the template checks: three of the four shapes must be refused with
 * 422 `template_too_complex`, the fourth (just under the limits) is accepted and rendered in a
 * worker thread at delivery. `tag` makes the recipient and the content unique, so no cache can
 * serve a repeat.
 */
function hostileBody(shape: number, tag: string): Record<string, unknown> {
  const to = `hostile-${tag}@bench.example`;
  const common = { from: CONTENT.from, to, subject: 'x' };
  switch (shape) {
    case 0:
      return {
        ...common,
        html: '{{#each @root.a}}'.repeat(4) + `${tag}{{@index}}` + '{{/each}}'.repeat(4),
        variables: { a: items(100) },
      };
    case 1:
      return { ...common, html: `${tag}` + '{{a}}{{b}}'.repeat(15_000) };
    case 2:
      return { ...common, html: `${tag}` + '<p>{{name}}</p>'.repeat(55_000) };
    default:
      // Just under the default limits: 1,900 distinct mustaches, compiled in a worker thread.
      return {
        ...common,
        html: Array.from({ length: 1900 }, (_, i) => `<p>{{v${tag}_${i}}}</p>`).join(''),
      };
  }
}

/**
 * The JSON of each shape is built once with a placeholder for the tag (the load generator
 * shares the two cores with the app: re-serialising an 880 KB body per request would measure
 * the bench, not the app); each request joins the parts around its own number.
 */
const TAG = 'TAGXQ';
const SHAPES = [0, 1, 2, 3].map((shape) => JSON.stringify(hostileBody(shape, TAG)).split(TAG));
const hostileJson = (n: number): string => SHAPES[n % 4].join(String(n));

export async function runTemplateAbuse(
  env: BenchEnv,
  opts: {
    connections: number;
    durationS: number;
    warmupS: number;
    hostileConcurrency: number;
    rounds: number;
    /** Told when each round starts. */
    onRound?: (round: number, hostile: boolean) => void;
  },
): Promise<TemplateAbuseResult> {
  const byStatus: Record<string, number> = {};
  let sent = 0;
  const health: number[] = [];
  let failures = 0;

  /** Runs `measure` while the hostile loops and the /health/live probe run. */
  const underHostileStream = async <T>(measure: () => Promise<T>): Promise<T> => {
    let stop = false;
    const hostileLoop = async (): Promise<void> => {
      while (!stop) {
        const n = sent++;
        try {
          const res = await fetch(`${env.baseUrl}/api/v1/send`, {
            method: 'POST',
            headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
            body: hostileJson(n),
          });
          await res.arrayBuffer();
          byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
        } catch {
          byStatus.error = (byStatus.error ?? 0) + 1;
        }
      }
    };
    const healthLoop = async (): Promise<void> => {
      while (!stop) {
        const started = performance.now();
        try {
          const res = await fetch(`${env.baseUrl}/health/live`);
          await res.arrayBuffer();
          if (res.status !== 200) failures++;
        } catch {
          failures++;
        }
        health.push(performance.now() - started);
        await sleep(20);
      }
    };
    const loops = [
      ...Array.from({ length: opts.hostileConcurrency }, () => hostileLoop()),
      healthLoop(),
    ];
    try {
      return await measure();
    } finally {
      stop = true;
      await Promise.all(loops);
    }
  };

  const load = (): Promise<SendLatencyResult> =>
    runSendLatency(env, {
      connections: opts.connections,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      workersRunning: true,
    });
  const usual: SendLatencyResult[] = [];
  const hostile: SendLatencyResult[] = [];
  for (let r = 1; r <= opts.rounds; r++) {
    opts.onRound?.(r, false);
    usual.push(await load());
    opts.onRound?.(r, true);
    hostile.push(await underHostileStream(load));
    // What the hostile stream queued is delivered (or failed) before the next quiet round.
    await waitForIdleQueue(env);
  }
  return {
    hostile: { sent, byStatus },
    healthLive: {
      probes: health.length,
      p50: round(percentile(health, 50), 1),
      p99: round(percentile(health, 99), 1),
      max: round(Math.max(0, ...health), 1),
      failures,
    },
    send: meanOfRounds(hostile),
    usual: meanOfRounds(usual),
  };
}

/** Until the delivery queue has nothing waiting or running (at most 60 s). */
async function waitForIdleQueue(env: BenchEnv): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const c = await env.appQueue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    if ((c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) === 0) return;
    await sleep(250);
  }
}
