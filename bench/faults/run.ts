import { cpus, loadavg } from 'node:os';
import { round } from 'bench/lib/stats';
import {
  Checks,
  Cleanups,
  formatChecks,
  logDir,
  logger,
  runId,
  ScenarioResult,
  withTimeout,
  writeResults,
} from 'bench/faults/harness';
import { postalOutage } from 'bench/faults/postal-outage';
import { postgresRestart } from 'bench/faults/postgres-restart';
import { redisRestart } from 'bench/faults/redis-restart';
import type { Scenario, ScenarioEnv } from 'bench/faults/stack';
import { workerSigkill } from 'bench/faults/worker-sigkill';
import { workerSigterm } from 'bench/faults/worker-sigterm';

/**
 * `npm run faults [-- a c …]` (or FAULTS=a,c): the fault scenarios of issue 7 §2, one after
 * the other, each against its own servers and app processes. Exits 1 when an invariant fails.
 */
const ALL: Scenario[] = [postalOutage, redisRestart, postgresRestart, workerSigkill, workerSigterm];

let interrupted = false;
let abortCurrent: ((err: Error) => void) | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    abortCurrent?.(new Error(`interrupted (${sig})`));
  });
}

async function runScenario(sc: Scenario): Promise<ScenarioResult> {
  const id = runId();
  const log = logger(`faults ${sc.letter}`);
  const s: ScenarioEnv = {
    id,
    log,
    checks: new Checks(),
    cleanups: new Cleanups(),
    logDir: logDir(`faults-${sc.letter}`, id),
    figures: {},
  };
  const started = Date.now();
  log(`=== (${sc.letter}) ${sc.title} ===`);
  let error: string | undefined;
  try {
    const aborted = new Promise<never>((_, reject) => (abortCurrent = reject));
    await Promise.race([
      withTimeout(sc.run(s), sc.deadlineS() * 1000, `scenario (${sc.letter})`),
      aborted,
    ]);
  } catch (err) {
    error = (err as Error).message;
    log(`scenario broke: ${(err as Error).stack ?? error}`);
    s.checks.check('scenario completed', false, error);
  } finally {
    abortCurrent = undefined;
    log('cleaning up…');
    await s.cleanups.run(log);
  }
  const result: ScenarioResult = {
    scenario: sc.letter,
    title: sc.title,
    durationS: round((Date.now() - started) / 1000, 1),
    figures: s.figures,
    checks: s.checks.list,
    logDir: s.logDir,
    error,
  };
  process.stdout.write(
    `\n(${sc.letter}) ${sc.title} — ${result.durationS} s\n` +
      `${Object.entries(s.figures)
        .map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join('\n')}\n${formatChecks(s.checks.list)}\n\n`,
  );
  return result;
}

async function main(): Promise<number> {
  const wanted = (process.argv.slice(2).join(',') || process.env.FAULTS || 'a,b,c,d,e')
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
  const unknown = wanted.filter((w) => !ALL.some((sc) => sc.letter === w));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}: use a–e`);
  const results: ScenarioResult[] = [];
  const loadStart = loadavg().map((l) => round(l, 2));
  for (const sc of ALL.filter((x) => wanted.includes(x.letter))) {
    if (interrupted) break;
    results.push(await runScenario(sc));
  }
  const file = writeResults('faults', {
    started_at: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    machine: { cpus: cpus().length, load_average_start: loadStart, load_average_end: loadavg() },
    node: process.version,
    results,
  });
  const failed = results.filter((r) => r.checks.some((c) => !c.pass));
  process.stdout.write(
    `faults: ${results.length - failed.length}/${results.length} scenario(s) held every invariant` +
      `${failed.length ? `; FAILED: ${failed.map((r) => r.scenario).join(', ')}` : ''}. Wrote ${file}\n`,
  );
  return failed.length || interrupted ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`faults: failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
