import { join } from 'node:path';
import type { Result } from 'autocannon';
import type { BenchEnv } from 'bench/lib/harness';
import { round, waitFor } from 'bench/lib/stats';
import { startTsThread } from 'bench/lib/threads';
import type { WebhookLoadInput } from 'bench/scenarios/webhook-load.thread';

export interface WebhookIngestResult {
  events: number;
  connections: number;
  eventsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  /** From the first request until every event is processed (message delivered). */
  allProcessedS: number | null;
}

function load(input: WebhookLoadInput, onSigned: () => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const worker = startTsThread(join(__dirname, 'webhook-load.thread.ts'), input);
    worker.on('message', (msg: Result | { error: string } | { signed: number }) => {
      if ('signed' in msg) return onSigned();
      if ('error' in msg && typeof msg.error === 'string') reject(new Error(msg.error));
      else resolve(msg as Result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/**
 * Webhook ingestion: signed `MessageSent` events (RSA, Rails-escaped, one per message the app
 * really sent) posted at `connections` concurrency; then the time until the `webhooks` queue
 * has processed them all (every message `delivered`).
 */
export async function runWebhookIngest(
  env: BenchEnv,
  opts: { events: number; connections: number },
): Promise<WebhookIngestResult> {
  // Messages to report on: the ones the earlier scenarios sent, or fresh rows.
  await env.pool.query(
    `INSERT INTO email_logs (external_message_id, recipient, sender, status, provider_message_id, sent_at)
     SELECT gen_random_uuid(), 'wh' || g || '@bench.example', 'a@b.example', 'sent', (900000000 + g)::text, now()
       FROM generate_series(1, $1) g`,
    [opts.events],
  );
  const { rows } = await env.pool.query<{ id: string }>(
    `SELECT provider_message_id AS id FROM email_logs WHERE status = 'sent' AND provider_message_id ~ '^[0-9]+$'
      ORDER BY id DESC LIMIT $1`,
    [opts.events],
  );
  const postalIds = rows.map((r) => r.id);
  let started = 0;
  const result = await load(
    {
      url: env.baseUrl,
      privateKeyPem: env.webhookPrivateKeyPem,
      postalIds,
      connections: opts.connections,
    },
    () => (started = Date.now()),
  );
  const done = await waitFor(
    async () => {
      const r = await env.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM webhook_events WHERE processed_at IS NULL`,
      );
      return r.rows[0].n === 0;
    },
    300_000,
    100,
  );
  const allProcessedS = done ? round((Date.now() - started) / 1000, 2) : null;
  return {
    events: postalIds.length,
    connections: opts.connections,
    eventsPerSec: round(result.requests.total / (result.duration || 1)),
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    allProcessedS,
  };
}
