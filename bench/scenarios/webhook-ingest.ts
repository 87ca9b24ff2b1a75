import { join } from 'node:path';
import type { Result } from 'autocannon';
import { Queue } from 'bullmq';
import { QueueName } from 'src/infra/queue/queue.constants';
import { BareServer } from 'bench/lib/bare-server-process';
import type { BenchEnv } from 'bench/lib/harness';
import { round, waitFor } from 'bench/lib/stats';
import { startTsThread } from 'bench/lib/threads';
import type { WebhookLoadInput } from 'bench/scenarios/webhook-load.thread';

export interface WebhookIngestResult {
  processing: 'concurrent' | 'paused' | 'bare';
  events: number;
  connections: number;
  eventsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  /**
   * Until every event is processed (message delivered): from the first request, or, with
   * processing paused, from the moment it resumed.
   */
  allProcessedS: number | null;
}

function load(input: WebhookLoadInput, onSigned: () => void = () => undefined): Promise<Result> {
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
  opts: {
    events: number;
    connections: number;
    /**
     * `concurrent`: the worker process handles events while they arrive (the target line).
     * `paused`: its webhooks queue is paused during ingestion — what the API process alone
     * does — and resumed afterwards.
     */
    processing: 'concurrent' | 'paused';
    /** Postal ids start above this (distinct per run). */
    idBase: number;
  },
): Promise<WebhookIngestResult> {
  // Fresh `sent` messages for the events to report on.
  const { rows } = await env.pool.query<{ id: string }>(
    // Postal names a message by id and token, and the app matches both (README "How mail
    // flows"): each row gets the token its events will carry.
    `INSERT INTO email_logs (external_message_id, recipient, sender, status, provider_message_id,
                             provider_token, sent_at)
     SELECT gen_random_uuid(), 'wh' || ($2 + g) || '@bench.example', 'a@b.example', 'sent',
            ($2 + g)::text, 'tok' || ($2 + g), now()
       FROM generate_series(1, $1) g
     RETURNING provider_message_id AS id`,
    [opts.events, opts.idBase],
  );
  const postalIds = rows.map((r) => r.id);
  const webhooksQueue = new Queue(QueueName.Webhooks, {
    connection: env.bullConnection,
    prefix: env.bullPrefix,
  });
  if (opts.processing === 'paused') await webhooksQueue.pause();
  const before = await env.pool.query<{ id: string }>(
    `SELECT coalesce(max(id), 0) AS id FROM webhook_events`,
  );
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
  if (opts.processing === 'paused') {
    started = Date.now();
    await webhooksQueue.resume();
  }
  await webhooksQueue.close();
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
  // Every event must have done its work — a MessageSent moves its `sent` message to
  // `delivered`. An event that matches no message is processed too, but changes nothing: a
  // rate of those would measure the wrong path.
  const delivered = await env.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM email_logs
      WHERE provider_message_id = ANY($1::varchar[]) AND status = 'delivered'`,
    [postalIds],
  );
  if (done && delivered.rows[0].n !== postalIds.length) {
    throw new Error(
      `webhook ingestion: ${delivered.rows[0].n} of ${postalIds.length} messages delivered`,
    );
  }
  // The rate as the server saw it, from the first stored event to the last: autocannon's own
  // duration counts in whole sampling ticks, too coarse for a run of a few seconds.
  const span = await env.pool.query<{ n: number; s: number }>(
    `SELECT count(*)::int AS n, extract(epoch FROM max(received_at) - min(received_at))::float AS s
       FROM webhook_events WHERE id > $1`,
    [before.rows[0].id],
  );
  return {
    processing: opts.processing,
    events: postalIds.length,
    connections: opts.connections,
    eventsPerSec: round(span.rows[0].n / Math.max(span.rows[0].s, 0.001)),
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

/** The bare handler's table: `webhook_events`' columns, defaults and indexes, read by no one. */
const BARE_TABLE = 'bench_bare_webhook_events';

/**
 * The bare baseline of (e): the same load (events signed the same way, same connections, a
 * 2,000-event warm-up) against a bare `node:http` handler in a process of its own
 * (bench/lib/bare-server.ts) that verifies the RSA-SHA256 signature and inserts the row into a
 * table shaped like `webhook_events`. Rate as the app's: rows ÷ (last − first `received_at`).
 */
export async function runBareWebhookIngest(
  env: BenchEnv,
  opts: { events: number; connections: number; warmup: number; idBase: number },
): Promise<WebhookIngestResult> {
  await env.pool.query(
    `CREATE TABLE IF NOT EXISTS ${BARE_TABLE} (LIKE webhook_events INCLUDING ALL)`,
  );
  const server = await BareServer.start({
    kind: 'webhook',
    databaseUrl: env.config.databaseUrl,
    poolSize: env.config.dbPoolSize,
    privateKeyPem: env.webhookPrivateKeyPem,
    table: BARE_TABLE,
  });
  try {
    const ids = (n: number, base: number): string[] =>
      Array.from({ length: n }, (_, i) => String(base + i + 1));
    const input = { url: server.url, privateKeyPem: env.webhookPrivateKeyPem };
    if (opts.warmup > 0) {
      await load({
        ...input,
        postalIds: ids(opts.warmup, opts.idBase),
        connections: opts.connections,
      });
    }
    const before = await env.pool.query<{ id: string }>(
      `SELECT coalesce(max(id), 0) AS id FROM ${BARE_TABLE}`,
    );
    const result = await load({
      ...input,
      postalIds: ids(opts.events, opts.idBase + opts.warmup),
      connections: opts.connections,
    });
    const span = await env.pool.query<{ n: number; s: number }>(
      `SELECT count(*)::int AS n, extract(epoch FROM max(received_at) - min(received_at))::float AS s
         FROM ${BARE_TABLE} WHERE id > $1`,
      [before.rows[0].id],
    );
    if (span.rows[0].n !== opts.events) {
      throw new Error(`bare webhook handler: ${span.rows[0].n} of ${opts.events} events stored`);
    }
    return {
      processing: 'bare',
      events: opts.events,
      connections: opts.connections,
      eventsPerSec: round(span.rows[0].n / Math.max(span.rows[0].s, 0.001)),
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
      },
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      allProcessedS: null,
    };
  } finally {
    await server.stop();
  }
}
