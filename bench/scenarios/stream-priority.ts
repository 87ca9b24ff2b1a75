import { randomUUID } from 'node:crypto';
import { type BenchEnv, PRIORITY_DOMAIN, PRIORITY_DOMAIN_RATE } from 'bench/lib/harness';
import { TRACKED_RECIPIENT_MARK } from 'bench/lib/remote-postal';
import { round, sleep } from 'bench/lib/stats';

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface StreamPriorityResult {
  broadcastRecipients: number;
  domainRatePerSec: number;
  transactionalSent: number;
  transactionalArrived: number;
  /** Time from the 202 of a transactional send to its arrival at Postal. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Broadcast messages Postal had received when the last transactional send arrived. */
  broadcastDeliveredMeanwhile: number;
}

/**
 * (p) README "Streams": a broadcast batch of `recipients` to one domain drains at that
 * domain's configured rate while single transactional sends (`/send`, no stream given: the
 * endpoint's default) to the same domain go on, one every `intervalMs`. Measures, for each
 * transactional message, the time from its 202 to FakePostal receiving it. Uses only fields
 * every version of the API accepts, so the same scenario measures the code before streams.
 */
export async function runStreamPriority(
  env: BenchEnv,
  opts: { recipients: number; transactional: number; intervalMs: number; startAfterMs: number },
): Promise<StreamPriorityResult> {
  await env.appWorker.resume();
  const headers = {
    Authorization: `Bearer ${env.apiKey}`,
    'Content-Type': 'application/json',
  };
  const startCount = env.postal.accepted;
  const batch = await fetch(`${env.baseUrl}/api/v1/batch`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      from: 'News <news@shop.example>',
      subject: 'Weekly news',
      text: 'Hello {{n}}',
      recipients: Array.from({ length: opts.recipients }, (_, n) => ({
        to: `b${n}-${randomUUID().slice(0, 8)}@${PRIORITY_DOMAIN}`,
        variables: { n },
      })),
    }),
  });
  if (batch.status !== 202) throw new Error(`batch answered ${batch.status}`);
  await sleep(opts.startAfterMs);

  const accepted = new Map<string, number>();
  for (let i = 0; i < opts.transactional; i++) {
    const next = Date.now() + opts.intervalMs;
    const res = await fetch(`${env.baseUrl}/api/v1/send`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        from: 'Shop <shop@shop.example>',
        to: `receipt-${i}${TRACKED_RECIPIENT_MARK}${PRIORITY_DOMAIN}`,
        subject: 'Your receipt',
        text: 'Thanks',
      }),
    });
    const at = Date.now();
    if (res.status !== 202) throw new Error(`/send answered ${res.status}`);
    accepted.set(((await res.json()) as { message_id: string }).message_id, at);
    await sleep(Math.max(0, next - Date.now()));
  }
  // Wait for the last ones (bounded: a message queued behind the whole batch takes its drain time).
  const deadline = Date.now() + (opts.recipients / PRIORITY_DOMAIN_RATE) * 1000 + 60_000;
  while (Date.now() < deadline && [...accepted.keys()].some((id) => !env.postal.arrivals.has(id)))
    await sleep(100);
  const delivered = env.postal.accepted - startCount;

  const latencies = [...accepted]
    .filter(([id]) => env.postal.arrivals.has(id))
    .map(([id, at]) => env.postal.arrivals.get(id)! - at)
    .sort((a, b) => a - b);
  // Let the rest of the batch drain before the next scenario (at most its drain time).
  const drainUntil = Date.now() + (opts.recipients / PRIORITY_DOMAIN_RATE) * 1000 + 30_000;
  while (
    Date.now() < drainUntil &&
    env.postal.accepted - startCount < opts.recipients + opts.transactional
  )
    await sleep(500);
  return {
    broadcastRecipients: opts.recipients,
    domainRatePerSec: PRIORITY_DOMAIN_RATE,
    transactionalSent: accepted.size,
    transactionalArrived: latencies.length,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: latencies.length ? latencies[latencies.length - 1] : NaN,
    },
    broadcastDeliveredMeanwhile: delivered - latencies.length,
  };
}
