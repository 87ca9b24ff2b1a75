import { randomUUID } from 'node:crypto';
import { Job, Worker } from 'bullmq';
import { Agent, fetch } from 'undici';
import {
  batchBody,
  CONTENT,
  deliveryJob,
  RAW_INSERT_SQL,
  rawRows,
  recipients,
} from 'bench/lib/content';
import type { BenchEnv } from 'bench/lib/harness';
import { median, round, sleep, waitFor } from 'bench/lib/stats';

export interface PipelineRun {
  messages: number;
  /**
   * Accepting the messages (ms): the app, from the first batch POST to the last 202 (its worker
   * delivers meanwhile); the bare side, its unnest INSERT + addBulk.
   */
  acceptMs: number;
  /**
   * From the first batch POST to the last `sent_at` (ms): the app accepts and delivers at once;
   * the bare side is accept + its worker's run, one after the other.
   */
  elapsedMs: number;
  /** messages ÷ elapsedMs. */
  emailsPerSec: number;
  /** First to last `sent_at` (ms): the steady-state rate without the start-up. */
  firstToLastMs: number;
  complete: boolean;
}

export interface PipelineSide {
  /** Messages delivered over all measured rounds. */
  messages: number;
  /** Median over the rounds. */
  emailsPerSec: number;
  complete: boolean;
  rounds: PipelineRun[];
}

export interface PipelineResult {
  concurrency: number;
  dbPoolSize: number;
  rounds: number;
  app?: PipelineSide;
  raw?: PipelineSide;
  /**
   * Median over paired rounds of bare elapsed ÷ app elapsed, i.e. app ÷ bare emails/s (null
   * when one side was skipped).
   */
  ratio: number | null;
}

const BATCH = 10_000;
const BULK_CHUNK = 1000;
const TIMEOUT_MS = 120_000;

/** SQL of the bare worker: the app's claim and markSent statements, nothing else. */
const CLAIM_SQL = `WITH claimed AS (
  UPDATE email_logs SET status = 'processing', updated_at = now()
   WHERE external_message_id = $1
     AND (status IN ('queued', 'retry_scheduled')
          OR (status = 'processing' AND updated_at < now() - make_interval(secs => 300)))
   RETURNING id, recipient, recipient_domain, sender, subject, template_id, campaign_id, tag,
             status_details, send_at)
SELECT * FROM claimed`;

const MARK_SENT_SQL = `WITH updated AS (
  UPDATE email_logs
     SET status = 'sent', sent_at = now(), updated_at = now(), error_message = NULL,
         provider_message_id = $2, provider_token = $3, postal_message_id = $4
   WHERE id = $1 AND status = 'processing'
   RETURNING id)
INSERT INTO email_events (email_log_id, event_type, details)
SELECT id, 'sent', jsonb_build_object('provider_message_id', $2::text) FROM updated
RETURNING email_log_id`;

/** Waits until FakePostal has accepted `target` messages, then reads the batches' sent times. */
async function finish(
  env: BenchEnv,
  batchIds: string[],
  target: number,
  messages: number,
  startedAt: number,
  /** Added to the elapsed time: the bare side's accept, done before its clock started. */
  acceptMs: number,
  acceptBeforeStart: boolean,
): Promise<PipelineRun> {
  const complete = await waitFor(() => env.postal.accepted >= target, TIMEOUT_MS, 5);
  let stats: { sent: number; first: number | null; last: number | null } = {
    sent: 0,
    first: null,
    last: null,
  };
  // The last markSent lands just after Postal's answer.
  await waitFor(
    async () => {
      const { rows } = await env.pool.query(
        `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent,
                (extract(epoch FROM min(sent_at)) * 1000)::float8 AS first,
                (extract(epoch FROM max(sent_at)) * 1000)::float8 AS last
           FROM email_logs WHERE batch_id = ANY($1::uuid[])`,
        [batchIds],
      );
      stats = rows[0] as typeof stats;
      return stats.sent >= messages;
    },
    complete ? 10_000 : 0,
    20,
  );
  const last = stats.last ?? Date.now();
  const elapsedMs = last - startedAt + (acceptBeforeStart ? acceptMs : 0);
  return {
    messages,
    acceptMs: round(acceptMs),
    elapsedMs: round(elapsedMs),
    emailsPerSec: round((stats.sent / elapsedMs) * 1000),
    firstToLastMs: round(last - (stats.first ?? startedAt)),
    complete: complete && stats.sent >= messages,
  };
}

/**
 * The app as a newcomer uses it: messages accepted through the batch API while its worker runs
 * and delivers them; the clock runs from the first POST to the last `sent_at`.
 */
async function appPipeline(env: BenchEnv, run: string, messages: number): Promise<PipelineRun> {
  await env.appWorker.resume();
  const target = env.postal.accepted + messages;
  const bodies: string[] = [];
  for (let i = 0; i < messages; i += BATCH)
    bodies.push(batchBody(recipients(`${run}-${i}`, Math.min(BATCH, messages - i))));
  await sleep(200); // let the garbage of building the bodies settle before the clock starts
  const startedAt = Date.now();
  const batchIds: string[] = [];
  for (const body of bodies) {
    const res = await env.post('/api/v1/batch', body);
    if (res.status !== 202) throw new Error(`batch answered ${res.status}`);
    batchIds.push((res.body as { batch_id: string }).batch_id);
  }
  const acceptMs = Date.now() - startedAt;
  return finish(env, batchIds, target, messages, startedAt, acceptMs, false);
}

/**
 * The bare worker: a plain BullMQ Worker at the same concurrency on its own queue, doing the
 * claim UPDATE, a POST of a pre-rendered message to FakePostal, and the sent UPDATE (+ event).
 */
async function rawPipeline(
  env: BenchEnv,
  run: string,
  messages: number,
  ctx: { templateId: number; sender: string },
): Promise<PipelineRun> {
  const queue = env.rawQueue(`bench-raw-delivery-${run}`);
  const batchId = randomUUID();
  const list = recipients(run, messages);
  const acceptStart = Date.now();
  const rows = rawRows(list, {
    apiKeyId: env.apiKeyId,
    templateId: ctx.templateId,
    sender: ctx.sender,
    batchId,
  });
  await env.pool.query(RAW_INSERT_SQL, rows.params);
  for (let i = 0; i < list.length; i += BULK_CHUNK) {
    await queue.addBulk(
      list.slice(i, i + BULK_CHUNK).map((r, j) => deliveryJob(rows.ids[i + j], r.to)),
    );
  }
  const acceptMs = Date.now() - acceptStart;

  const concurrency = env.config.workerConcurrency;
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    connections: Math.max(16, concurrency),
    pipelining: 1,
  });
  const { url, apiKey } = env.config.postal;
  const worker = new Worker(
    queue.name,
    async (job: Job<{ messageId: string }>) => {
      const { rows: claimed } = await env.pool.query(CLAIM_SQL, [job.data.messageId]);
      const m = claimed[0] as
        | {
            id: string;
            recipient: string;
            sender: string;
            status_details: { variables: Record<string, string> };
          }
        | undefined;
      if (!m) return;
      const vars = m.status_details.variables;
      const fill = (s: string): string =>
        s.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? '');
      const res = await fetch(`${url}/api/v1/send/message`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'Content-Type': 'application/json', 'X-Server-API-Key': apiKey! },
        body: JSON.stringify({
          to: [m.recipient],
          from: m.sender,
          subject: fill(CONTENT.subject),
          plain_body: fill(CONTENT.text),
          html_body: fill(CONTENT.html),
          headers: { 'X-Email-Id': job.data.messageId },
        }),
      });
      const answer = (await res.json()) as {
        data: { message_id: string; messages: Record<string, { id: number; token: string }> };
      };
      const rcpt = answer.data.messages[m.recipient];
      await env.pool.query(MARK_SENT_SQL, [
        m.id,
        String(rcpt.id),
        rcpt.token,
        answer.data.message_id,
      ]);
    },
    { connection: env.bullConnection, prefix: env.bullPrefix, concurrency, autorun: false },
  );
  worker.on('failed', (job, err) => process.stderr.write(`bare worker: ${err.message}\n`));
  try {
    const target = env.postal.accepted + messages;
    await sleep(200);
    const startedAt = Date.now();
    void worker.run();
    return await finish(env, [batchId], target, messages, startedAt, acceptMs, true);
  } finally {
    await worker.close();
    await agent.close();
    await queue.obliterate({ force: true });
  }
}

/**
 * (b) End-to-end, from the batch POST to the last message sent into a zero-latency FakePostal:
 * the app (accepting through the batch API while its worker delivers) against the raw accept
 * (unnest INSERT + addBulk) followed by the bare worker. After a warm-up of each, `rounds`
 * rounds alternate app and bare so that a change in the machine's load hits both sides alike;
 * figures are medians over the rounds, the ratio the median of paired rounds.
 */
export async function runPipeline(
  env: BenchEnv,
  opts: {
    messages: number;
    rounds: number;
    warmup: number;
    sides: { app: boolean; raw: boolean };
  },
): Promise<PipelineResult> {
  const ctxQuery = `SELECT template_id, sender FROM email_logs WHERE template_id IS NOT NULL LIMIT 1`;
  let ctx = (await env.pool.query(ctxQuery)).rows[0] as
    { template_id: number; sender: string } | undefined;
  if (opts.sides.app || !ctx) await appPipeline(env, 'pipe-warm', opts.warmup);
  ctx ??= (await env.pool.query(ctxQuery)).rows[0] as { template_id: number; sender: string };
  const rawCtx = { templateId: ctx.template_id, sender: ctx.sender };
  if (opts.sides.raw) await rawPipeline(env, 'bare-warm', opts.warmup, rawCtx);

  const perRound = Math.ceil(opts.messages / opts.rounds);
  const appRuns: PipelineRun[] = [];
  const rawRuns: PipelineRun[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    if (opts.sides.app) appRuns.push(await appPipeline(env, `pipe${i}`, perRound));
    if (opts.sides.raw) rawRuns.push(await rawPipeline(env, `bare${i}`, perRound, rawCtx));
  }
  const side = (runs: PipelineRun[]): PipelineSide | undefined =>
    runs.length
      ? {
          messages: runs.reduce((n, r) => n + r.messages, 0),
          emailsPerSec: round(median(runs.map((r) => r.emailsPerSec))),
          complete: runs.every((r) => r.complete),
          rounds: runs,
        }
      : undefined;
  const paired = appRuns.slice(0, rawRuns.length).map((a, i) => rawRuns[i].elapsedMs / a.elapsedMs);
  return {
    concurrency: env.config.workerConcurrency,
    dbPoolSize: env.config.dbPoolSize,
    rounds: opts.rounds,
    app: side(appRuns),
    raw: side(rawRuns),
    ratio: paired.length ? round(median(paired), 3) : null,
  };
}
