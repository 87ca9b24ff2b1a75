import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { BenchEnv, REDIS_URL, startBenchEnv, Topology } from 'bench/lib/harness';
import { mib, RssSampler } from 'bench/lib/memory';
import { formatColumns, median, ReportLine, round, verdict } from 'bench/lib/stats';
import { BatchAcceptResult, runBatchAccept } from 'bench/scenarios/batch-accept';
import { EventWebhooksResult, runEventWebhooks } from 'bench/scenarios/event-webhooks';
import { PipelineResult, PipelineSide, runPipeline } from 'bench/scenarios/pipeline';
import {
  meanOfRounds,
  runBareSendLatency,
  runSendLatency,
  SendLatencyResult,
} from 'bench/scenarios/send-latency';
import { runStreamPriority, StreamPriorityResult } from 'bench/scenarios/stream-priority';
import { runTemplateAbuse, TemplateAbuseResult } from 'bench/scenarios/template-abuse';
import {
  runBareWebhookIngest,
  runWebhookIngest,
  WebhookIngestResult,
} from 'bench/scenarios/webhook-ingest';

/**
 * Targets of the performance requirement (issue 17): each a ratio against a bare baseline
 * measured in the same run, but the transactional priority (absolute, 1 s) and the memory per
 * process. A missed target is reported, never fatal.
 */
const TARGETS = {
  batchAcceptRatio: 0.75,
  pipelineRatio: 0.8,
  /** App /send p99 ÷ bare handler p99, API alone and with the worker draining a batch. */
  sendP99RatioApiOnly: 1.5,
  sendP99RatioDraining: 2,
  /** App webhook events/s ÷ bare handler's, and app p99 ÷ bare p99. */
  webhookRateRatio: 0.7,
  webhookP99Ratio: 2,
  priorityP99Ms: 1000,
  rssPerProcessMiB: 400,
  eventWebhooksRatio: 0.7,
  eventWebhooksSendP99Ratio: 1.2,
};

interface MemoryFigures {
  /** Each app process (the spawned ones and their descendants): RSS after the run and peak. */
  processes: Array<{ name: string; pid: number; afterMiB: number; peakMiB: number }>;
  /** The bench process itself (FakePostal, load-generator threads, baselines). */
  bench: { afterMiB: number; peakMiB: number };
}

/** The 1-, 5- and 15-minute load averages, rounded. */
const load = (): number[] => loadavg().map((l) => round(l, 2));

/** Everything one topology measured; `loadAverage` holds each scenario's start and end. */
interface TopologyFigures {
  topology: Topology;
  a?: BatchAcceptResult;
  b?: PipelineResult;
  cBare?: SendLatencyResult;
  cApiOnly?: SendLatencyResult;
  cDraining?: SendLatencyResult;
  t?: TemplateAbuseResult;
  wBare?: WebhookIngestResult;
  w?: WebhookIngestResult;
  wApiOnly?: WebhookIngestResult;
  p?: StreamPriorityResult;
  ew?: EventWebhooksResult;
  memory?: MemoryFigures;
  loadAverage: Record<string, { start: number[]; end: number[] }>;
  settings: Record<string, number>;
}

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const SETTINGS = {
  batchRecipients: num('BENCH_BATCH_RECIPIENTS', 10_000),
  batchRuns: num('BENCH_BATCH_RUNS', 5),
  pipelineMessages: num('BENCH_PIPELINE_MESSAGES', 20_000),
  pipelineRounds: num('BENCH_PIPELINE_ROUNDS', 4),
  pipelineWarmup: num('BENCH_PIPELINE_WARMUP', 1_000),
  sendConnections: num('BENCH_SEND_CONNECTIONS', 20),
  sendSeconds: num('BENCH_SEND_SECONDS', 10),
  sendWarmupSeconds: num('BENCH_SEND_WARMUP_SECONDS', 2),
  sendRounds: num('BENCH_SEND_ROUNDS', 2),
  sendDrainMessages: num('BENCH_SEND_DRAIN_MESSAGES', 30_000),
  webhookEvents: num('BENCH_WEBHOOK_EVENTS', 10_000),
  webhookConnections: num('BENCH_WEBHOOK_CONNECTIONS', 50),
  priorityRecipients: num('BENCH_PRIORITY_RECIPIENTS', 10_000),
  priorityTransactional: num('BENCH_PRIORITY_TRANSACTIONAL', 100),
  priorityIntervalMs: num('BENCH_PRIORITY_INTERVAL_MS', 250),
  eventWebhookMessages: num('BENCH_EVENT_WEBHOOK_MESSAGES', 10_000),
};

/**
 * The topologies measured, in this order: `default` is `npm start` as a newcomer runs it,
 * `split` one `api` and one `worker` process (BENCH_TOPOLOGIES=split measures one).
 */
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'default,split')
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean) as Topology[];
for (const t of TOPOLOGIES) {
  if (t !== 'default' && t !== 'split') throw new Error(`BENCH_TOPOLOGIES: unknown topology ${t}`);
}

const ALL_SCENARIOS = 'batch,pipeline,send,templates,webhooks,priority,eventwebhooks';
/**
 * BENCH_ONLY=batch,pipeline,send runs a subset in every topology; BENCH_DEFAULT_ONLY and
 * BENCH_SPLIT_ONLY narrow one topology further. Under a profiler BENCH_PIPELINE_SIDES=app (or
 * raw) keeps one side of (b) apart from the other.
 */
function scenariosOf(topology: Topology): Set<string> {
  const only = new Set((process.env.BENCH_ONLY ?? ALL_SCENARIOS).split(','));
  const own = process.env[`BENCH_${topology.toUpperCase()}_ONLY`];
  return own ? new Set(own.split(',').filter((s) => only.has(s))) : only;
}
const SIDES = new Set((process.env.BENCH_PIPELINE_SIDES ?? 'app,raw').split(','));

const t0 = Date.now();
function log(line: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`bench [${s} s] ${line}\n`);
}

async function versions(env: BenchEnv): Promise<Record<string, string>> {
  const { rows } = await env.pool.query<{ v: string }>('SHOW server_version');
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server').finally(() => redis.disconnect());
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout: fine.
  }
  return {
    node: process.version,
    postgresql: rows[0].v,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    commit,
  };
}

/** A line of the table: `key` joins the topologies' cells of one figure. */
interface KeyedLine extends ReportLine {
  key: string;
}

const errorsOf = (s: SendLatencyResult): number => s.errors + s.non2xx + s.timeouts;
const ratioText = (r: number): string => `${r.toFixed(3)}×`;

/** The lines of one topology's figures (labels without the topology: it is the column). */
function reportLines(f: TopologyFigures): KeyedLine[] {
  const lines: KeyedLine[] = [];
  const { a, b, cBare, cApiOnly, cDraining, t, wBare, w, wApiOnly, p, ew, memory } = f;
  if (a) {
    lines.push({
      key: 'a',
      figure:
        `(a) accept a ${a.recipients}-recipient batch, delivery running, median of ${a.runs} ` +
        '(raw ÷ app time)',
      target: `>= ${TARGETS.batchAcceptRatio}× raw`,
      measured:
        `${ratioText(a.ratio)} (${a.appMedianMs} ms; ${Math.min(...a.deliveredDuringApp)}–` +
        `${Math.max(...a.deliveredDuringApp)} delivered meanwhile)`,
      baseline: `raw insert+enqueue ${a.rawMedianMs} ms`,
      pass: a.ratio >= TARGETS.batchAcceptRatio,
    });
  }
  if (b) {
    const messages = b.app?.messages ?? b.raw?.messages ?? 0;
    const side = (r: PipelineSide | undefined): string =>
      r
        ? `${r.emailsPerSec} emails/s, accept ${round(median(r.rounds.map((x) => x.acceptMs)))} ms` +
          `${r.complete ? '' : ' (incomplete)'}`
        : 'skipped';
    lines.push({
      key: 'b',
      figure:
        `(b) pipeline, batch POST → last message sent, ${messages} emails in ${b.rounds} ` +
        `rounds, concurrency ${b.concurrency} (app ÷ bare emails/s)`,
      target: `>= ${TARGETS.pipelineRatio}× (accept + bare worker)`,
      measured: b.ratio === null ? side(b.app) : `${ratioText(b.ratio)} (${side(b.app)})`,
      baseline: `raw accept + bare worker: ${side(b.raw)}`,
      pass:
        b.ratio === null
          ? null
          : Boolean(b.app?.complete && b.raw?.complete) && b.ratio >= TARGETS.pipelineRatio,
    });
  }
  const sendCell = (s: SendLatencyResult): string => {
    const rounds =
      s.roundsP99 && s.roundsP99.length > 1 ? `mean of rounds ${s.roundsP99.join(', ')}; ` : '';
    return `p99 ${s.latencyMs.p99} ms (${rounds}p50 ${s.latencyMs.p50}, p90 ${s.latencyMs.p90}; ${s.reqPerSec} req/s)`;
  };
  for (const [s, key, label, limit] of [
    [cApiOnly, 'c-api', 'API alone (delivery paused)', TARGETS.sendP99RatioApiOnly],
    [cDraining, 'c-drain', 'the worker draining a batch', TARGETS.sendP99RatioDraining],
  ] as const) {
    if (!s) continue;
    const ratio = cBare ? s.latencyMs.p99 / cBare.latencyMs.p99 : null;
    const drain = s.drain
      ? `; ${s.drain.deliveredDuring} of the ${s.drain.messages}-message batch delivered ` +
        `meanwhile, ${s.drain.waitingAtEnd} left`
      : '';
    lines.push({
      key,
      figure: `(c) /send p99 at ${s.connections} connections, ${label} (app ÷ bare p99)`,
      target: `<= ${limit}× bare`,
      measured: `${ratio === null ? 'n/a' : ratioText(ratio)} (${sendCell(s)}${drain})`,
      baseline: cBare ? `bare handler ${sendCell(cBare)}` : '-',
      pass: ratio === null ? null : ratio <= limit && errorsOf(s) === 0,
    });
    lines.push({
      key: `${key}-errors`,
      figure: `(c) /send errors + non-2xx, ${label}`,
      target: '0',
      measured: `${errorsOf(s)} of ${s.requests}`,
      baseline: cBare ? `bare ${errorsOf(cBare)} of ${cBare.requests}` : '-',
      pass: errorsOf(s) === 0,
    });
  }
  if (t) {
    const by = t.hostile.byStatus;
    const refused = by['422'] ?? 0;
    const accepted = by['202'] ?? 0;
    const other = t.hostile.sent - refused - accepted;
    lines.push({
      key: 't-health',
      figure: '(t) /health/live p99 under a stream of hostile templates',
      target: '< 100 ms',
      measured: `${t.healthLive.p99} ms (p50 ${t.healthLive.p50}, max ${t.healthLive.max}; ${t.healthLive.probes} probes, ${t.healthLive.failures} failed)`,
      baseline: '-',
      pass: t.healthLive.p99 < 100 && t.healthLive.failures === 0,
    });
    lines.push({
      key: 't-send',
      figure:
        '(t) normal /send p99 meanwhile, vs the same load without the hostile stream ' +
        '(alternating rounds, delivery running)',
      target: '<= 2× usual',
      measured: `${ratioText(t.send.latencyMs.p99 / t.usual.latencyMs.p99)} (${sendCell(t.send)})`,
      baseline: `without: ${sendCell(t.usual)}`,
      pass: t.send.latencyMs.p99 <= 2 * t.usual.latencyMs.p99 && errorsOf(t.send) === 0,
    });
    if (cApiOnly) {
      lines.push({
        key: 't-send-vs-c',
        figure: '(t) the same p99, vs (c) API alone (delivery paused; for reference)',
        target: '-',
        measured: ratioText(t.send.latencyMs.p99 / cApiOnly.latencyMs.p99),
        baseline: `(c) ${cApiOnly.latencyMs.p99} ms`,
        pass: null,
      });
    }
    lines.push({
      key: 't-hostile',
      figure: '(t) hostile sends: 422 template_too_complex / 202 (just under) / other',
      target: 'other = 0',
      measured: `${refused} / ${accepted} / ${other} of ${t.hostile.sent}`,
      baseline: '-',
      pass: other === 0 && refused > 0,
    });
  }
  const hookCell = (x: WebhookIngestResult): string =>
    `${x.eventsPerSec} events/s, p99 ${x.latencyMs.p99} ms (p50 ${x.latencyMs.p50})`;
  for (const [x, key, label, targeted] of [
    [w, 'e', 'processed meanwhile', true],
    [wApiOnly, 'e-api', 'API alone (processing paused)', false],
  ] as const) {
    if (!x) continue;
    const rate = wBare ? x.eventsPerSec / wBare.eventsPerSec : null;
    const p99 = wBare ? x.latencyMs.p99 / wBare.latencyMs.p99 : null;
    const ok = x.non2xx + x.errors === 0;
    lines.push({
      key,
      figure:
        `(e) webhook ingestion, ${x.events} signed events at ${x.connections} connections, ` +
        `${label} (app ÷ bare rate; app ÷ bare p99)`,
      target: targeted
        ? `>= ${TARGETS.webhookRateRatio}× bare rate, p99 <= ${TARGETS.webhookP99Ratio}× bare`
        : '-',
      measured:
        `${rate === null ? 'n/a' : ratioText(rate)} rate, ${p99 === null ? 'n/a' : ratioText(p99)} ` +
        `p99 (${hookCell(x)}; ${x.non2xx + x.errors} errors)`,
      baseline: wBare ? `bare handler ${hookCell(wBare)}` : '-',
      pass:
        !targeted || rate === null || p99 === null
          ? ok
            ? null
            : false
          : ok && rate >= TARGETS.webhookRateRatio && p99 <= TARGETS.webhookP99Ratio,
    });
    lines.push({
      key: `${key}-processed`,
      figure: `(e) webhooks: time until all processed (${label})`,
      target: '-',
      measured:
        x.allProcessedS === null
          ? 'not within 300 s'
          : `${x.allProcessedS} s (${Math.round(x.events / x.allProcessedS)} events/s)`,
      baseline: '-',
      pass: null,
    });
  }
  if (p) {
    lines.push({
      key: 'p',
      figure:
        `(p) transactional /send → Postal p99 while a ${p.broadcastRecipients}-recipient ` +
        `broadcast drains at ${p.domainRatePerSec}/s to the same domain`,
      target: `<= ${TARGETS.priorityP99Ms} ms`,
      measured:
        `${p.latencyMs.p99} ms (p50 ${p.latencyMs.p50}, p90 ${p.latencyMs.p90}, max ` +
        `${p.latencyMs.max}; ${p.transactionalArrived}/${p.transactionalSent} arrived)`,
      baseline: `${p.broadcastDeliveredMeanwhile} broadcast delivered meanwhile`,
      pass:
        p.transactionalArrived === p.transactionalSent && p.latencyMs.p99 <= TARGETS.priorityP99Ms,
    });
  }
  if (ew) {
    const side = (s: EventWebhooksResult['app']): string =>
      `${s.eventsPerSec} events/s (${s.requests} requests in ${s.elapsedMs} ms` +
      `${s.complete ? '' : ', incomplete'})`;
    lines.push({
      key: 'w',
      figure:
        `(w) event webhooks: ${ew.messages} messages × sent + delivered to ${ew.endpoints} ` +
        `loopback endpoints, ${ew.endpointConcurrency} per endpoint, ~${ew.bodyBytes} B bodies`,
      target: `>= ${TARGETS.eventWebhooksRatio}× bare`,
      measured: `${ratioText(ew.ratio)} (${side(ew.app)})`,
      baseline: `bare sign-and-POST ${side(ew.bare)}`,
      pass: ew.app.complete && ew.bare.complete && ew.ratio >= TARGETS.eventWebhooksRatio,
    });
    lines.push({
      key: 'w-times',
      figure: '(w) fan-out held, after the batch 202: last message delivered / deliveries stored',
      target: '-',
      measured: `${round(ew.batchDeliveredMs / 1000, 1)} s / ${round(ew.deliveriesStoredMs / 1000, 1)} s`,
      baseline: '-',
      pass: null,
    });
    lines.push({
      key: 'w-send',
      figure:
        `(w) /send p99, ${ew.sendWith.connections} connections, 2 endpoints vs none ` +
        `(mean of ${ew.sendRounds.length} alternating rounds)`,
      target: `<= ${TARGETS.eventWebhooksSendP99Ratio}× none`,
      measured:
        `${ratioText(ew.sendP99Ratio)} (p99 ${ew.sendRounds.map((r) => r.with.latencyMs.p99).join(' / ')} ms; ` +
        `${ew.sendRounds.map((r) => r.with.reqPerSec).join(' / ')} req/s)`,
      baseline:
        `none: p99 ${ew.sendRounds.map((r) => r.without.latencyMs.p99).join(' / ')} ms; ` +
        `${ew.sendRounds.map((r) => r.without.reqPerSec).join(' / ')} req/s`,
      pass:
        ew.sendP99Ratio <= TARGETS.eventWebhooksSendP99Ratio &&
        ew.sendRounds.every((r) => errorsOf(r.with) === 0),
    });
  }
  if (memory) {
    lines.push({
      key: 'd',
      figure: '(d) resident memory of each app process after the run (peak)',
      target: `<= ${TARGETS.rssPerProcessMiB} MiB each`,
      measured: memory.processes
        .map((x) => `${x.name} ${x.afterMiB} MiB (${x.peakMiB})`)
        .join('; '),
      baseline: '-',
      pass: memory.processes.every((x) => x.afterMiB <= TARGETS.rssPerProcessMiB),
    });
    lines.push({
      key: 'd-bench',
      figure: '(d) the bench process (fakes, load threads, raw baselines) (peak)',
      target: '-',
      measured: `${memory.bench.afterMiB} MiB (${memory.bench.peakMiB})`,
      baseline: '-',
      pass: null,
    });
  }
  const loads = Object.entries(f.loadAverage);
  if (loads.length) {
    lines.push({
      key: 'load',
      figure: 'load average (1 min) at the start → end of each scenario',
      target: '-',
      measured: loads.map(([k, v]) => `${k} ${v.start[0]}→${v.end[0]}`).join(', '),
      baseline: '-',
      pass: null,
    });
  }
  return lines;
}

/** One table: the figures of every topology side by side, one row per figure. */
function formatReport(figures: TopologyFigures[]): string {
  const per = figures.map((f) => new Map(reportLines(f).map((l) => [l.key, l])));
  const keys: string[] = [];
  for (const m of per) for (const k of m.keys()) if (!keys.includes(k)) keys.push(k);
  const head = ['Figure', 'Target'];
  for (const f of figures) {
    const name = f.topology === 'default' ? 'default start' : 'split api + worker';
    head.push(`${name}: measured`, `${name}: bare baseline`, 'Result');
  }
  const rows = keys.map((k) => {
    const any = per.find((m) => m.has(k))!.get(k)!;
    const row = [any.figure, any.target];
    for (const m of per) {
      const l = m.get(k);
      row.push(l ? l.measured : '-', l ? l.baseline : '-', l ? verdict(l.pass) : '-');
    }
    return row;
  });
  return formatColumns(head, rows);
}

/** Runs every scenario of `topology` on a fresh env (and (w) on one of its own). */
async function measureTopology(
  topology: Topology,
  run: <T>(p: Promise<T>) => Promise<T>,
  info: (env: BenchEnv) => Promise<void>,
): Promise<TopologyFigures> {
  const only = scenariosOf(topology);
  const f: TopologyFigures = {
    topology,
    loadAverage: {},
    settings: {},
  };
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = load();
    const out = await run(fn());
    f.loadAverage[name] = { start, end: load() };
    return out;
  };
  const say = (line: string): void => log(`[${topology}] ${line}`);
  const where =
    topology === 'default'
      ? 'one `node dist/src/main.js`, APP_ROLES unset'
      : 'an api process and a worker process';
  say(`starting FakePostal, a fresh database and the app (${where})…`);
  const env = await startBenchEnv({}, topology);
  try {
    await info(env);
    f.settings = {
      worker_concurrency: env.config.workerConcurrency,
      db_pool_size: env.config.dbPoolSize,
      domain_rate_default: env.config.domainRate.defaultPerSec,
    };
    if (only.has('batch')) {
      say(
        `(a) ${SETTINGS.batchRecipients}-recipient batches vs raw unnest + addBulk, delivery running…`,
      );
      f.a = await step('a', () =>
        runBatchAccept(env, { recipients: SETTINGS.batchRecipients, runs: SETTINGS.batchRuns }),
      );
    }
    if (only.has('pipeline')) {
      say(
        `(b) ${SETTINGS.pipelineMessages} emails from batch POST to sent, app vs raw accept + bare worker…`,
      );
      f.b = await step('b', () =>
        runPipeline(env, {
          messages: SETTINGS.pipelineMessages,
          rounds: SETTINGS.pipelineRounds,
          warmup: SETTINGS.pipelineWarmup,
          sides: { app: SIDES.has('app'), raw: SIDES.has('raw') },
        }),
      );
    }
    if (only.has('send')) {
      const opts = {
        connections: SETTINGS.sendConnections,
        durationS: SETTINGS.sendSeconds,
        warmupS: SETTINGS.sendWarmupSeconds,
      };
      // Rounds in turn — bare, API alone, draining — so that a change in the host's load lands
      // on both sides of each ratio (bench/README.md).
      const rounds = { bare: [] as SendLatencyResult[], api: [] as SendLatencyResult[] };
      const drain: SendLatencyResult[] = [];
      for (let r = 1; r <= SETTINGS.sendRounds; r++) {
        const of = SETTINGS.sendRounds > 1 ? ` (round ${r} of ${SETTINGS.sendRounds})` : '';
        const key = (name: string): string => (r === 1 ? name : `${name}-${r}`);
        say(
          `(c) the bare /send handler for ${opts.durationS} s at ${opts.connections} connections${of}…`,
        );
        rounds.bare.push(await step(key('c-bare'), () => runBareSendLatency(env, opts)));
        say(`(c) POST /api/v1/send, delivery paused (the API alone)${of}…`);
        rounds.api.push(
          await step(key('c-api'), () => runSendLatency(env, { ...opts, workersRunning: false })),
        );
        say(
          `(c) the same while the worker drains a ${SETTINGS.sendDrainMessages}-message batch${of}…`,
        );
        drain.push(
          await step(key('c-drain'), () =>
            runSendLatency(env, {
              ...opts,
              workersRunning: true,
              drainMessages: SETTINGS.sendDrainMessages,
            }),
          ),
        );
      }
      f.cBare = meanOfRounds(rounds.bare);
      f.cApiOnly = meanOfRounds(rounds.api);
      f.cDraining = meanOfRounds(drain);
    }
    if (only.has('templates')) {
      say('(t) /send and /health/live under a stream of hostile templates…');
      f.t = await step('t', () =>
        runTemplateAbuse(env, {
          connections: SETTINGS.sendConnections,
          durationS: SETTINGS.sendSeconds,
          warmupS: SETTINGS.sendWarmupSeconds,
          hostileConcurrency: 4,
          rounds: SETTINGS.sendRounds,
          onRound: (r, hostile) =>
            say(
              `(t) ${hostile ? 'with' : 'without'} the hostile stream` +
                (SETTINGS.sendRounds > 1 ? ` (round ${r} of ${SETTINGS.sendRounds})` : '') +
                '…',
            ),
        }),
      );
    }
    if (only.has('webhooks')) {
      await env.appWorker.resume();
      const base = { events: SETTINGS.webhookEvents, connections: SETTINGS.webhookConnections };
      const warmup = Math.min(2000, base.events);
      say(
        `(e) the bare webhook handler, ${base.events} signed events at ${base.connections} connections…`,
      );
      f.wBare = await step('e-bare', () =>
        runBareWebhookIngest(env, { ...base, warmup, idBase: 700_000_000 }),
      );
      say('(e) the app, events processed as they arrive…');
      f.w = await step('e', async () => {
        // Warm-up (not counted), as the other figures have: the webhook path's first requests
        // run cold code.
        await runWebhookIngest(env, {
          ...base,
          events: warmup,
          processing: 'concurrent',
          idBase: 880_000_000,
        });
        return runWebhookIngest(env, { ...base, processing: 'concurrent', idBase: 900_000_000 });
      });
      say('(e) the same with webhook processing paused (the API alone), then processed…');
      f.wApiOnly = await step('e-api', () =>
        runWebhookIngest(env, { ...base, processing: 'paused', idBase: 950_000_000 }),
      );
    }
    if (only.has('priority')) {
      say(
        `(p) a ${SETTINGS.priorityRecipients}-recipient broadcast draining at one domain's rate, ` +
          `${SETTINGS.priorityTransactional} transactional sends to it meanwhile…`,
      );
      f.p = await step('p', () =>
        runStreamPriority(env, {
          recipients: SETTINGS.priorityRecipients,
          transactional: SETTINGS.priorityTransactional,
          intervalMs: SETTINGS.priorityIntervalMs,
          startAfterMs: 3000,
        }),
      );
      say(`(p) transactional p99 ${f.p.latencyMs.p99} ms (target ≤ ${TARGETS.priorityP99Ms})`);
    }
    f.memory = {
      processes: env.processes.flatMap((proc) =>
        proc.tree().map((x) => ({
          name: x.label,
          pid: x.pid,
          afterMiB: mib(x.rssBytes),
          peakMiB: mib(x.peakBytes),
        })),
      ),
      bench: { afterMiB: 0, peakMiB: 0 },
    };
  } finally {
    say('cleaning up (app, database, Redis keys, FakePostal)…');
    await env.close();
  }
  if (only.has('eventwebhooks')) {
    say('(w) booting an env of its own (sandbox transport, private networks allowed)…');
    f.ew = await step('w', () =>
      runEventWebhooks({
        messages: SETTINGS.eventWebhookMessages,
        sendConnections: SETTINGS.sendConnections,
        sendSeconds: SETTINGS.sendSeconds,
        sendWarmupSeconds: SETTINGS.sendWarmupSeconds,
        topology,
        log: say,
      }),
    );
  }
  return f;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = load();
  if (loadAtStart[0] > cpus().length) {
    log(
      `warning: load average ${loadAtStart[0]} on ${cpus().length} cores: other work will skew the figures`,
    );
  }
  const rss = new RssSampler().start(250);
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    onSignal = () => reject(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  interrupted.catch(() => undefined);
  try {
    const run = async <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);
    let info: Record<string, string> = {};
    const figures: TopologyFigures[] = [];
    for (const topology of TOPOLOGIES) {
      const benchBefore = rss.peakBytes;
      figures.push(
        await measureTopology(topology, run, async (env) => {
          info = await versions(env);
        }),
      );
      const f = figures[figures.length - 1];
      if (f.memory) {
        f.memory.bench = {
          afterMiB: mib(process.memoryUsage().rss),
          peakMiB: mib(Math.max(benchBefore, rss.peakBytes)),
        };
      }
    }
    rss.stop();
    const usage = process.memoryUsage();
    process.stdout.write(`\n${formatReport(figures)}\n\n`);

    const finishedAt = new Date();
    const report = {
      started_at: startedAt.toISOString(),
      duration_s: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memory_mib: mib(totalmem()),
        load_average_start: loadAtStart,
        load_average_end: load(),
      },
      versions: info,
      settings: SETTINGS,
      targets: TARGETS,
      topologies: figures.map((f) => ({ ...f, lines: reportLines(f) })),
      memory: {
        bench_rss_after_mib: mib(usage.rss),
        bench_rss_peak_mib: mib(rss.peakBytes),
        heap_used_mib: mib(usage.heapUsed),
        heap_total_mib: mib(usage.heapTotal),
        external_mib: mib(usage.external),
      },
    };
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    writeFileSync(file, json);
    writeFileSync(join(dir, 'latest.json'), json);
    log(`wrote ${file} and bench/results/latest.json`);
  } finally {
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
