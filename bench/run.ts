import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { BenchEnv, REDIS_URL, startBenchEnv } from 'bench/lib/harness';
import { mib, RssSampler } from 'bench/lib/memory';
import { formatTable, ReportLine, round } from 'bench/lib/stats';
import { BatchAcceptResult, runBatchAccept } from 'bench/scenarios/batch-accept';
import { EventWebhooksResult, runEventWebhooks } from 'bench/scenarios/event-webhooks';
import { PipelineResult, PipelineSide, runPipeline } from 'bench/scenarios/pipeline';
import { runSendLatency, SendLatencyResult } from 'bench/scenarios/send-latency';
import { runStreamPriority, StreamPriorityResult } from 'bench/scenarios/stream-priority';
import { runTemplateAbuse, TemplateAbuseResult } from 'bench/scenarios/template-abuse';
import { runWebhookIngest, WebhookIngestResult } from 'bench/scenarios/webhook-ingest';

/** Targets of the performance requirement; a missed target is reported, never fatal. */
const TARGETS = {
  batchAcceptRatio: 0.75,
  pipelineRatio: 0.8,
  pipelineEmailsPerSec: 1000,
  sendP99Ms: 25,
  webhookEventsPerSec: 2000,
  webhookP99Ms: 100,
  rssPerProcessMiB: 400,
  eventWebhooksRatio: 0.7,
  eventWebhooksSendP99Ratio: 1.2,
};

interface MemoryFigures {
  /** Each app process: RSS after the run and its sampled peak. */
  processes: Array<{ name: string; afterMiB: number; peakMiB: number }>;
  /** The bench process itself (FakePostal, load-generator threads, baselines). */
  bench: { afterMiB: number; peakMiB: number };
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
  webhookEvents: num('BENCH_WEBHOOK_EVENTS', 10_000),
  webhookConnections: num('BENCH_WEBHOOK_CONNECTIONS', 50),
  priorityRecipients: num('BENCH_PRIORITY_RECIPIENTS', 10_000),
  priorityTransactional: num('BENCH_PRIORITY_TRANSACTIONAL', 100),
  priorityIntervalMs: num('BENCH_PRIORITY_INTERVAL_MS', 250),
  eventWebhookMessages: num('BENCH_EVENT_WEBHOOK_MESSAGES', 10_000),
};

/**
 * BENCH_ONLY=batch,pipeline,send runs a subset; under a profiler BENCH_PIPELINE_SIDES=app (or
 * raw) keeps one side of (b) apart from the other.
 */
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? 'batch,pipeline,send,templates,webhooks,priority,eventwebhooks').split(
    ',',
  ),
);
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

function reportLines(
  a: BatchAcceptResult | undefined,
  b: PipelineResult | undefined,
  c: SendLatencyResult | undefined,
  cApiOnly: SendLatencyResult | undefined,
  w: WebhookIngestResult | undefined,
  wApiOnly: WebhookIngestResult | undefined,
  memory: MemoryFigures,
  t?: TemplateAbuseResult,
  p?: StreamPriorityResult,
  ew?: EventWebhooksResult,
): ReportLine[] {
  const lines: ReportLine[] = [];
  if (ew) {
    const side = (s: EventWebhooksResult['app']): string =>
      `${s.eventsPerSec} events/s (${s.requests} requests in ${s.elapsedMs} ms` +
      `${s.complete ? '' : ', incomplete'})`;
    lines.push({
      figure:
        `(w) event webhooks: ${ew.messages} messages × sent + delivered to ${ew.endpoints} ` +
        `loopback endpoints, ${ew.endpointConcurrency} per endpoint, ~${ew.bodyBytes} B bodies`,
      target: `>= ${TARGETS.eventWebhooksRatio} of bare`,
      measured: `${side(ew.app)}; ${ew.ratio} of bare`,
      baseline: side(ew.bare),
      pass: ew.app.complete && ew.bare.complete && ew.ratio >= TARGETS.eventWebhooksRatio,
    });
    lines.push({
      figure: '(w) fan-out held, after the batch 202: last message delivered / deliveries stored',
      target: '-',
      measured: `${round(ew.batchDeliveredMs / 1000, 1)} s / ${round(ew.deliveriesStoredMs / 1000, 1)} s`,
      baseline: '-',
      pass: null,
    });
    lines.push({
      figure: `(w) /send p99, ${ew.sendWith.connections} connections, 2 endpoints vs none`,
      target: `<= ${TARGETS.eventWebhooksSendP99Ratio} x none`,
      measured:
        `${ew.sendWith.latencyMs.p99} ms (p50 ${ew.sendWith.latencyMs.p50}; ` +
        `${ew.sendWith.reqPerSec} req/s; ${ew.sendP99Ratio} x none)`,
      baseline:
        `${ew.sendWithout.latencyMs.p99} ms (p50 ${ew.sendWithout.latencyMs.p50}; ` +
        `${ew.sendWithout.reqPerSec} req/s)`,
      pass:
        ew.sendP99Ratio <= TARGETS.eventWebhooksSendP99Ratio &&
        ew.sendWith.errors + ew.sendWith.non2xx + ew.sendWith.timeouts === 0,
    });
    lines.push({
      figure: '(w) load average (1, 5, 15 min) at start / end of (w)',
      target: '-',
      measured: `${ew.loadAverage.start.join(', ')} / ${ew.loadAverage.end.join(', ')}`,
      baseline: '-',
      pass: null,
    });
  }
  if (p) {
    lines.push({
      figure:
        `(p) transactional /send → Postal p99 while a ${p.broadcastRecipients}-recipient ` +
        `broadcast drains at ${p.domainRatePerSec}/s to the same domain`,
      target: '<= 1000 ms',
      measured:
        `${p.latencyMs.p99} ms (p50 ${p.latencyMs.p50}, p90 ${p.latencyMs.p90}, max ` +
        `${p.latencyMs.max}; ${p.transactionalArrived}/${p.transactionalSent} arrived)`,
      baseline: `${p.broadcastDeliveredMeanwhile} broadcast delivered meanwhile`,
      pass: p.transactionalArrived === p.transactionalSent && p.latencyMs.p99 <= 1000,
    });
  }
  if (a) {
    lines.push({
      figure: `(a) accept batch of ${a.recipients} (median of ${a.runs})`,
      target: `>= ${TARGETS.batchAcceptRatio} of raw`,
      measured: `${a.appMedianMs} ms (${a.ratio} of raw)`,
      baseline: `${a.rawMedianMs} ms`,
      pass: a.ratio >= TARGETS.batchAcceptRatio,
    });
  }
  if (b) {
    const messages = b.app?.messages ?? b.raw?.messages ?? 0;
    const rate = (r: PipelineSide | undefined): string =>
      r ? `${r.emailsPerSec} emails/s${r.complete ? '' : ' (incomplete)'}` : 'skipped';
    lines.push({
      figure: `(b) pipeline, ${messages} emails in ${b.rounds} rounds, concurrency ${b.concurrency}`,
      target: `>= ${TARGETS.pipelineEmailsPerSec} emails/s`,
      measured: rate(b.app),
      baseline: rate(b.raw),
      pass: b.app ? b.app.complete && b.app.emailsPerSec >= TARGETS.pipelineEmailsPerSec : null,
    });
    lines.push({
      figure: '(b) pipeline vs bare BullMQ worker',
      target: `>= ${TARGETS.pipelineRatio} of raw`,
      measured: b.ratio === null ? 'n/a' : `${b.ratio} of raw`,
      baseline: '1',
      pass:
        b.ratio === null
          ? null
          : Boolean(b.app?.complete && b.raw?.complete) && b.ratio >= TARGETS.pipelineRatio,
    });
  }
  for (const [s, label] of [
    [c, 'api+worker'],
    [cApiOnly, 'api only'],
  ] as const) {
    if (!s) continue;
    lines.push({
      figure: `(c) /send p99, ${s.connections} connections, ${label}`,
      target: `<= ${TARGETS.sendP99Ms} ms`,
      measured: `${s.latencyMs.p99} ms (p50 ${s.latencyMs.p50}, p90 ${s.latencyMs.p90}; ${s.reqPerSec} req/s)`,
      baseline: '-',
      pass: s.latencyMs.p99 <= TARGETS.sendP99Ms,
    });
    lines.push({
      figure: `(c) /send errors + non-2xx, ${label}`,
      target: '0',
      measured: `${s.errors + s.non2xx + s.timeouts} of ${s.requests}`,
      baseline: '-',
      pass: s.errors + s.non2xx + s.timeouts === 0,
    });
  }
  if (t) {
    const by = t.hostile.byStatus;
    const refused = by['422'] ?? 0;
    const accepted = by['202'] ?? 0;
    const other = t.hostile.sent - refused - accepted;
    lines.push({
      figure: '(t) /health/live p99 under a stream of hostile templates',
      target: '< 100 ms',
      measured: `${t.healthLive.p99} ms (p50 ${t.healthLive.p50}, max ${t.healthLive.max}; ${t.healthLive.probes} probes, ${t.healthLive.failures} failed)`,
      baseline: '-',
      pass: t.healthLive.p99 < 100 && t.healthLive.failures === 0,
    });
    lines.push({
      figure: '(t) normal /send p99 meanwhile, vs (c) api+worker',
      target: '<= 2 x (c)',
      measured: `${t.send.latencyMs.p99} ms (p50 ${t.send.latencyMs.p50}; ${t.send.reqPerSec} req/s)`,
      baseline: c ? `${c.latencyMs.p99} ms` : '-',
      pass: c ? t.send.latencyMs.p99 <= 2 * c.latencyMs.p99 : null,
    });
    lines.push({
      figure: '(t) hostile sends: 422 template_too_complex / 202 (just under) / other',
      target: 'other = 0',
      measured: `${refused} / ${accepted} / ${other} of ${t.hostile.sent}`,
      baseline: '-',
      pass: other === 0 && refused > 0,
    });
  }

  for (const [x, label] of [
    [w, 'processed meanwhile'],
    [wApiOnly, 'api only'],
  ] as const) {
    if (!x) continue;
    lines.push({
      figure: `(e) webhook ingestion, ${x.events} signed events, ${x.connections} connections, ${label}`,
      target: `>= ${TARGETS.webhookEventsPerSec} events/s, p99 < ${TARGETS.webhookP99Ms} ms`,
      measured: `${x.eventsPerSec} events/s, p99 ${x.latencyMs.p99} ms (p50 ${x.latencyMs.p50}); ${x.non2xx + x.errors} errors`,
      baseline: '-',
      pass:
        x.eventsPerSec >= TARGETS.webhookEventsPerSec &&
        x.latencyMs.p99 < TARGETS.webhookP99Ms &&
        x.non2xx + x.errors === 0,
    });
    lines.push({
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
  for (const p of memory.processes) {
    lines.push({
      figure: `(d) resident memory of the ${p.name} process after the run`,
      target: `<= ${TARGETS.rssPerProcessMiB} MiB`,
      measured: `${p.afterMiB} MiB (peak ${p.peakMiB} MiB)`,
      baseline: '-',
      pass: p.afterMiB <= TARGETS.rssPerProcessMiB,
    });
  }
  lines.push({
    figure: '(d) the bench process (fakes, load threads, baselines)',
    target: '-',
    measured: `${memory.bench.afterMiB} MiB (peak ${memory.bench.peakMiB} MiB)`,
    baseline: '-',
    pass: null,
  });
  return lines;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  if (loadAtStart[0] > cpus().length) {
    log(
      `warning: load average ${loadAtStart[0]} on ${cpus().length} cores: other work will skew the figures`,
    );
  }
  const rss = new RssSampler().start(250);
  log('starting FakePostal, a fresh database and the app (an api process and a worker process)…');
  const env = await startBenchEnv();
  const rssAfterBoot = mib(process.memoryUsage().rss);
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    onSignal = () => reject(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  interrupted.catch(() => undefined);
  try {
    const run = async <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);
    const info = await versions(env);
    let a: BatchAcceptResult | undefined;
    let b: PipelineResult | undefined;
    let c: SendLatencyResult | undefined;
    let cApiOnly: SendLatencyResult | undefined;
    let tAbuse: TemplateAbuseResult | undefined;
    let pPriority: StreamPriorityResult | undefined;
    let ew: EventWebhooksResult | undefined;
    let w: WebhookIngestResult | undefined;
    let wApiOnly: WebhookIngestResult | undefined;
    if (ONLY.has('batch')) {
      log(`(a) accepting ${SETTINGS.batchRecipients}-recipient batches vs raw unnest + addBulk…`);
      a = await run(
        runBatchAccept(env, { recipients: SETTINGS.batchRecipients, runs: SETTINGS.batchRuns }),
      );
    }
    if (ONLY.has('pipeline')) {
      log(`(b) delivering ${SETTINGS.pipelineMessages} emails, app vs bare BullMQ worker…`);
      b = await run(
        runPipeline(env, {
          messages: SETTINGS.pipelineMessages,
          rounds: SETTINGS.pipelineRounds,
          warmup: SETTINGS.pipelineWarmup,
          sides: { app: SIDES.has('app'), raw: SIDES.has('raw') },
        }),
      );
    }
    if (ONLY.has('send')) {
      const opts = {
        connections: SETTINGS.sendConnections,
        durationS: SETTINGS.sendSeconds,
        warmupS: SETTINGS.sendWarmupSeconds,
      };
      log(`(c) POST /api/v1/send for ${opts.durationS} s at ${opts.connections} connections…`);
      c = await run(runSendLatency(env, { ...opts, workersRunning: true }));
      log('(c) the same with the delivery worker paused (api only)…');
      cApiOnly = await run(runSendLatency(env, { ...opts, workersRunning: false }));
    }
    if (ONLY.has('templates')) {
      log('(t) /send and /health/live under a stream of hostile templates…');
      tAbuse = await run(
        runTemplateAbuse(env, {
          connections: SETTINGS.sendConnections,
          durationS: SETTINGS.sendSeconds,
          warmupS: SETTINGS.sendWarmupSeconds,
          hostileConcurrency: 4,
        }),
      );
      log(
        `(t) /health/live p99 ${tAbuse.healthLive.p99} ms (target < 100), /send p99 ` +
          `${tAbuse.send.latencyMs.p99} ms (target ≤ 2 × (c) ${c?.latencyMs.p99 ?? '?'} ms); ` +
          `hostile sends ${JSON.stringify(tAbuse.hostile.byStatus)}`,
      );
    }
    if (ONLY.has('webhooks')) {
      await env.appWorker.resume();
      log(
        `(e) posting ${SETTINGS.webhookEvents} signed webhooks at ${SETTINGS.webhookConnections} connections, processed as they arrive…`,
      );
      const base = {
        events: SETTINGS.webhookEvents,
        connections: SETTINGS.webhookConnections,
      };
      // Warm-up (not counted), as the other figures have: the webhook path's first requests
      // run cold code.
      await run(
        runWebhookIngest(env, {
          ...base,
          events: Math.min(2000, base.events),
          processing: 'concurrent',
          idBase: 880_000_000,
        }),
      );
      w = await run(
        runWebhookIngest(env, { ...base, processing: 'concurrent', idBase: 900_000_000 }),
      );
      log('(e) the same with webhook processing paused (api only), then processed…');
      wApiOnly = await run(
        runWebhookIngest(env, { ...base, processing: 'paused', idBase: 950_000_000 }),
      );
    }
    if (ONLY.has('priority')) {
      log(
        `(p) a ${SETTINGS.priorityRecipients}-recipient broadcast draining at one domain's rate, ` +
          `${SETTINGS.priorityTransactional} transactional sends to it meanwhile…`,
      );
      pPriority = await run(
        runStreamPriority(env, {
          recipients: SETTINGS.priorityRecipients,
          transactional: SETTINGS.priorityTransactional,
          intervalMs: SETTINGS.priorityIntervalMs,
          startAfterMs: 3000,
        }),
      );
      log(`(p) transactional p99 ${pPriority.latencyMs.p99} ms (target ≤ 1000)`);
    }
    if (ONLY.has('eventwebhooks')) {
      log('(w) booting an env of its own (sandbox transport, private networks allowed)…');
      ew = await run(
        runEventWebhooks({
          messages: SETTINGS.eventWebhookMessages,
          sendConnections: SETTINGS.sendConnections,
          sendSeconds: SETTINGS.sendSeconds,
          sendWarmupSeconds: SETTINGS.sendWarmupSeconds,
          log,
        }),
      );
    }
    rss.stop();
    const usage = process.memoryUsage();
    const memory: MemoryFigures = {
      processes: [env.processes.api, env.processes.worker].map((p) => ({
        name: p.name,
        afterMiB: mib(p.rss()),
        peakMiB: mib(p.peakRss),
      })),
      bench: { afterMiB: mib(usage.rss), peakMiB: mib(rss.peakBytes) },
    };
    const lines = reportLines(a, b, c, cApiOnly, w, wApiOnly, memory, tAbuse, pPriority, ew);
    process.stdout.write(`\n${formatTable(lines)}\n\n`);

    const finishedAt = new Date();
    const report = {
      started_at: startedAt.toISOString(),
      duration_s: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memory_mib: mib(totalmem()),
        load_average_start: loadAtStart,
        load_average_end: loadavg().map((l) => Math.round(l * 100) / 100),
      },
      versions: info,
      settings: {
        ...SETTINGS,
        worker_concurrency: env.config.workerConcurrency,
        db_pool_size: env.config.dbPoolSize,
        domain_rate_default: env.config.domainRate.defaultPerSec,
      },
      targets: TARGETS,
      batch_accept: a,
      pipeline: b,
      send_latency: c,
      send_latency_api_only: cApiOnly,
      template_abuse: tAbuse,
      stream_priority: pPriority,
      event_webhooks: ew,
      webhook_ingest: w,
      webhook_ingest_api_only: wApiOnly,
      memory: {
        bench_rss_after_boot_mib: rssAfterBoot,
        app_processes: memory.processes,
        bench_rss_after_mib: memory.bench.afterMiB,
        bench_rss_peak_mib: memory.bench.peakMiB,
        heap_used_mib: mib(usage.heapUsed),
        heap_total_mib: mib(usage.heapTotal),
        external_mib: mib(usage.external),
      },
      lines,
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
    log('cleaning up (app, database, Redis keys, FakePostal)…');
    await env.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
