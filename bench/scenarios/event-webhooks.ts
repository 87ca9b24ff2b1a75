import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { batchBody, recipients } from 'bench/lib/content';
import { BenchEnv, startBenchEnv, Topology } from 'bench/lib/harness';
import { round, sleep, waitFor } from 'bench/lib/stats';
import { runSendLatency, SendLatencyResult } from 'bench/scenarios/send-latency';
import { QueueName } from 'src/infra/queue/queue.constants';

export interface FanoutSide {
  /** Requests the receivers counted (events × endpoints). */
  requests: number;
  complete: boolean;
  /** From the start (the queue's release; the bare loop's start) to the last arrival (ms). */
  elapsedMs: number;
  /** Requests ÷ elapsed: each endpoint's copy of an event counts once. */
  eventsPerSec: number;
}

export interface EventWebhooksResult {
  messages: number;
  endpoints: number;
  /** WEBHOOK_ENDPOINT_CONCURRENCY: the app's in-flight requests per endpoint, and the bare loop's. */
  endpointConcurrency: number;
  /** Median request body size the receivers saw (bytes). */
  bodyBytes: number;
  app: FanoutSide;
  bare: FanoutSide;
  /** app ÷ bare events/s. */
  ratio: number;
  /** The first round's runs (as every round: without endpoints, then with them). */
  sendWithout: SendLatencyResult;
  sendWith: SendLatencyResult;
  /** Every round, alternating: without endpoints, then with the two (SEND_ROUNDS). */
  sendRounds: Array<{ without: SendLatencyResult; with: SendLatencyResult }>;
  /**
   * With the `event-webhooks` queue paused, from the batch's 202: until its last message was
   * recorded `delivered`, and until its 40,000 deliveries were all stored `pending` (ms).
   */
  batchDeliveredMs: number;
  deliveriesStoredMs: number;
  /** Mean p99 with endpoints ÷ mean p99 without, over the rounds. */
  sendP99Ratio: number;
  loadAverage: { start: number[]; end: number[] };
}

const TIMEOUT_MS = 300_000;
const EVENTS = ['email.sent', 'email.delivered'];
/**
 * Rounds of `/send` without, then with endpoints. Alternating rounds, not one run of each
 * minutes apart, so that a drift in the shared host's load does not land on one side only.
 */
const SEND_ROUNDS = 2;

/** A loopback endpoint that answers 204 to everything, counting requests and arrival times. */
class Receiver {
  count = 0;
  last = 0;
  /** Bodies and webhook ids while recording (the bare loop re-sends them). */
  recorded: Array<{ id: string; body: string }> = [];
  recording = false;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.last = performance.now();
        this.count++;
        if (this.recording) {
          this.recorded.push({
            id: String(req.headers['webhook-id']),
            body: Buffer.concat(chunks).toString('utf8'),
          });
        }
        res.writeHead(204).end();
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  reset(): void {
    this.count = 0;
    this.last = 0;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** Waits until every receiver got `perReceiver` requests; from `start` to the last arrival. */
async function measure(
  receivers: Receiver[],
  perReceiver: number,
  start: number,
): Promise<FanoutSide> {
  const total = (): number => receivers.reduce((n, r) => n + r.count, 0);
  const complete = await waitFor(
    () => receivers.every((r) => r.count >= perReceiver),
    TIMEOUT_MS,
    20,
  );
  const last = Math.max(...receivers.map((r) => r.last));
  const elapsedMs = last > start ? last - start : 0;
  const requests = total();
  return {
    requests,
    complete,
    elapsedMs: round(elapsedMs),
    eventsPerSec: elapsedMs > 0 ? round((requests / elapsedMs) * 1000) : 0,
  };
}

/**
 * The bare baseline: per endpoint, `concurrency` loops that sign each recorded body with
 * `Webhook.sign` (one key per secret, as the app's WebhookSigner keeps) and POST it with the
 * same headers over a keep-alive undici Agent, reading the answer.
 */
async function bareLoop(
  targets: Array<{ url: string; secret: string; receiver: Receiver }>,
  payloads: Array<{ id: string; body: string }>,
  concurrency: number,
): Promise<FanoutSide> {
  for (const t of targets) t.receiver.reset();
  const start = performance.now();
  const agents: Agent[] = [];
  const runs = targets.map((t) => {
    const agent = new Agent({ keepAliveTimeout: 4000, connections: concurrency });
    agents.push(agent);
    const signer = new Webhook(t.secret);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < payloads.length) {
        const p = payloads[next++];
        const at = new Date();
        const res = await request(t.url, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': 'application/json',
            'webhook-id': p.id,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signer.sign(p.id, at, p.body),
          },
          body: p.body,
        });
        await res.body.text();
      }
    };
    return Promise.all(Array.from({ length: concurrency }, lane));
  });
  const side = measure(
    targets.map((t) => t.receiver),
    payloads.length,
    start,
  );
  await Promise.all(runs);
  const result = await side;
  await Promise.all(agents.map((a) => a.close()));
  return result;
}

/**
 * Event webhooks (README "Event webhooks"): a `messages`-recipient batch through the sandbox
 * transport (every message ends `delivered`, so sent + delivered = 2 events each) held for two
 * loopback endpoints (the queue paused) until delivered, then fanned out from the release to
 * the last POST received, against a bare loop that signs and POSTs the same bodies at the same
 * per-endpoint concurrency from its start to its last POST received; then /send p99 with those endpoints configured against without.
 * Boots an env of its own: the sandbox transport and WEBHOOK_ALLOW_PRIVATE_NETWORKS=true.
 */
export async function runEventWebhooks(opts: {
  messages: number;
  sendConnections: number;
  sendSeconds: number;
  sendWarmupSeconds: number;
  topology: Topology;
  log: (line: string) => void;
}): Promise<EventWebhooksResult> {
  const start = loadavg().map((l) => round(l, 2));
  const env: BenchEnv = await startBenchEnv(
    { MAIL_TRANSPORT: 'sandbox', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
    opts.topology,
  );
  const receivers = [new Receiver(), new Receiver()];
  try {
    const urls = await Promise.all(receivers.map((r) => r.start()));
    const sendOpts = {
      connections: opts.sendConnections,
      durationS: opts.sendSeconds,
      warmupS: opts.sendWarmupSeconds,
      workersRunning: true,
    };
    // The worker may still be delivering what /send accepted, and the transition publisher
    // still handing its transitions to the fan-out: their events must not fall into the next
    // window (an endpoint gets the events fanned out after it exists).
    const settle = async (): Promise<void> => {
      const drained = await waitFor(
        async () => {
          const { rows } = await env.pool.query<{ n: number }>(
            `SELECT (SELECT count(*) FROM email_logs WHERE status <> 'delivered')
                  + (SELECT count(*) FROM email_events e JOIN outbox_cursors c ON c.name = 'event-webhooks'
                      WHERE e.cause IS NOT NULL AND (e.tx, e.id) > (c.last_tx, c.last_id))::int AS n`,
          );
          return Number(rows[0].n) === 0;
        },
        TIMEOUT_MS,
        250,
      );
      if (!drained) throw new Error('the /send messages were not all delivered within 300 s');
    };
    const createEndpoints = async (): Promise<Array<{ id: string; secret: string }>> => {
      const created: Array<{ id: string; secret: string }> = [];
      for (const url of urls) {
        const res = await env.post(
          '/api/v1/webhook-endpoints',
          JSON.stringify({ url, events: EVENTS, description: 'bench' }),
        );
        if (res.status !== 201) {
          throw new Error(`webhook-endpoints answered ${res.status}: ${JSON.stringify(res.body)}`);
        }
        created.push(res.body as { id: string; secret: string });
      }
      return created;
    };
    /** `/send` with the endpoints in place; waits for its events to reach the receivers. */
    const sendWithEndpoints = async (): Promise<SendLatencyResult> => {
      for (const r of receivers) r.reset();
      const result = await runSendLatency(env, sendOpts);
      // Let the fan-out of the /send run finish before what comes next.
      await waitFor(() => receivers[0].count >= result.requests * EVENTS.length, 30_000, 100);
      return result;
    };

    opts.log(`(w) /send without webhook endpoints (round 1 of ${SEND_ROUNDS})…`);
    const sendWithout = await runSendLatency(env, sendOpts);
    await settle();

    let endpoints = await createEndpoints();
    const secrets = endpoints.map((e) => e.secret);
    const endpointConcurrency = env.config.eventWebhooks.endpointConcurrency;
    const perReceiver = opts.messages * EVENTS.length;

    // The fan-out is held while the batch is delivered (the sandbox's work, which the bare loop
    // does not do): the product's own switch, the `event-webhooks` queue paused globally. The
    // deliveries are stored `pending` meanwhile; the measured window starts at the release.
    const ewQueue = new Queue(QueueName.EventWebhooks, {
      connection: env.bullConnection,
      prefix: env.bullPrefix,
    });
    await ewQueue.pause();
    opts.log(`(w) a ${opts.messages}-recipient batch, its events held for two endpoints…`);
    await sleep(500); // the endpoint cache of the worker
    receivers[0].recording = true;
    const res = await env.post('/api/v1/batch', batchBody(recipients('evw', opts.messages)));
    const acceptedAt = Date.now();
    if (res.status !== 202) throw new Error(`batch answered ${res.status}`);
    const batchId = (res.body as { batch_id: string }).batch_id;
    const expected = perReceiver * receivers.length;
    let deliveriesStoredMs = 0;
    const stored = await waitFor(
      async () => {
        const { rows } = await env.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM outbound_deliveries`,
        );
        if (rows[0].n < expected) return false;
        deliveriesStoredMs = Date.now() - acceptedAt;
        return true;
      },
      TIMEOUT_MS,
      100,
    );
    if (!stored) throw new Error(`the batch's ${expected} deliveries were not stored in 300 s`);
    const { rows } = await env.pool.query<{ last: number | null; undelivered: number }>(
      `SELECT (extract(epoch FROM max(delivered_at)) * 1000)::float8 AS last,
              count(*) FILTER (WHERE status <> 'delivered')::int AS undelivered
         FROM email_logs WHERE batch_id = $1`,
      [batchId],
    );
    if (rows[0].undelivered > 0) throw new Error('stored deliveries before the batch delivered');
    const batchDeliveredMs = round((rows[0].last ?? acceptedAt) - acceptedAt);
    const held = receivers.reduce((n, r) => n + r.count, 0);
    if (held > 0) throw new Error(`${held} webhooks arrived while the queue was paused`);
    opts.log(
      `(w) held: batch delivered ${batchDeliveredMs} ms after its 202, ` +
        `${expected} deliveries stored after ${deliveriesStoredMs} ms; releasing…`,
    );
    await sleep(500);
    for (const r of receivers) r.reset();
    const released = performance.now();
    await ewQueue.resume();
    const app = await measure(receivers, perReceiver, released);
    await ewQueue.close();
    receivers[0].recording = false;
    const payloads = receivers[0].recorded;
    receivers[0].recorded = [];
    const sizes = payloads.map((p) => Buffer.byteLength(p.body)).sort((a, b) => a - b);
    opts.log(
      `(w) app: ${app.requests}/${expected} requests in ${app.elapsedMs} ms from the release ` +
        `(${app.eventsPerSec} events/s)`,
    );

    opts.log(`(w) bare loop: sign + POST the same ${payloads.length} bodies to both endpoints…`);
    await sleep(500);
    const bare = await bareLoop(
      urls.map((url, i) => ({ url, secret: secrets[i], receiver: receivers[i] })),
      payloads,
      endpointConcurrency,
    );
    opts.log(
      `(w) bare: ${bare.requests} requests in ${bare.elapsedMs} ms (${bare.eventsPerSec}/s)`,
    );

    opts.log(`(w) /send with the two endpoints configured (round 1 of ${SEND_ROUNDS})…`);
    const sendWith = await sendWithEndpoints();
    const sendRounds = [{ without: sendWithout, with: sendWith }];
    for (let round = 2; round <= SEND_ROUNDS; round++) {
      for (const e of endpoints) {
        const res = await env.delete(`/api/v1/webhook-endpoints/${e.id}`);
        if (res.status !== 200) throw new Error(`deleting an endpoint answered ${res.status}`);
      }
      await settle();
      opts.log(`(w) /send without webhook endpoints (round ${round} of ${SEND_ROUNDS})…`);
      const without = await runSendLatency(env, sendOpts);
      await settle();
      endpoints = await createEndpoints();
      await sleep(500); // the endpoint cache of the worker
      opts.log(`(w) /send with the two endpoints configured (round ${round} of ${SEND_ROUNDS})…`);
      sendRounds.push({ without, with: await sendWithEndpoints() });
    }
    const meanP99 = (side: 'without' | 'with'): number =>
      sendRounds.reduce((n, r) => n + r[side].latencyMs.p99, 0) / sendRounds.length;

    return {
      messages: opts.messages,
      endpoints: receivers.length,
      endpointConcurrency,
      bodyBytes: sizes.length ? sizes[Math.floor(sizes.length / 2)] : 0,
      app,
      bare,
      ratio: bare.eventsPerSec > 0 ? round(app.eventsPerSec / bare.eventsPerSec, 3) : 0,
      batchDeliveredMs,
      deliveriesStoredMs,
      sendWithout,
      sendWith,
      sendRounds,
      sendP99Ratio: round(meanP99('with') / meanP99('without'), 2),
      loadAverage: { start, end: loadavg().map((l) => round(l, 2)) },
    };
  } finally {
    await Promise.all(receivers.map((r) => r.stop()));
    await env.close();
  }
}
