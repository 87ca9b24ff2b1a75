import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { Client } from 'pg';
import type { ReceivedMessage } from 'test/fakes/fake-postal';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import { railsJson } from 'test/fakes/rails-json';
import { round, sleep } from 'bench/lib/stats';
import {
  Checks,
  Cleanups,
  countBy,
  formatChecks,
  HttpResult,
  latencySummary,
  logDir,
  logger,
  num,
  observerRedis,
  Outcome,
  query,
  runId,
  SHARED_PG_URL,
  slope,
  statusCounts,
  SteadyLoad,
  tcpConnectionsTo,
  waitUntil,
  withTimeout,
  writeResults,
} from 'bench/faults/harness';
import { postBatch, ScenarioEnv, sendOne, Stack, startStack } from 'bench/faults/stack';

/**
 * `npm run soak` (issue 7 §3): SOAK_MINUTES (10) of mixed traffic at a steady rate — single
 * sends, batches, signed Postal webhooks, opens and clicks on the tracking links of sent
 * messages — against separate api, worker and scheduler processes. Samples each process's
 * resident memory (VmRSS) and connections, and PostgreSQL's and Redis's client counts; at the
 * end the queues must drain. Exits 1 on a 5xx, an undrained queue, a growing memory slope or
 * growing connection counts.
 */

const MINUTES = num('SOAK_MINUTES', 10);
const SAMPLE_S = num('SOAK_SAMPLE_S', 5);
const WARMUP_S = num('SOAK_WARMUP_S', Math.min(120, MINUTES * 60 * 0.2));
const MAX_SLOPE_MB_PER_MIN = num('SOAK_MAX_RSS_SLOPE_MB_PER_MIN', 1.5);
const RATES = {
  send: num('SOAK_SEND_RATE', 8),
  batchSize: num('SOAK_BATCH_SIZE', 50),
  batchEveryS: num('SOAK_BATCH_EVERY_S', 5),
  webhook: num('SOAK_WEBHOOK_RATE', 10),
  open: num('SOAK_OPEN_RATE', 4),
  click: num('SOAK_CLICK_RATE', 4),
};
const PROCESSES = ['api', 'worker-1', 'scheduler'];

type Kind = 'send' | 'batch' | 'webhook' | 'open' | 'click';
const EXPECTED: Record<Kind, number> = {
  send: 202,
  batch: 202,
  webhook: 200,
  open: 200,
  click: 302,
};

interface PostalMessage {
  id: number;
  token: string;
  messageId: string;
  to: string;
  from: string;
  subject: string;
}

/** What the traffic refers to: messages Postal got (for webhooks) and their tracking links. */
class Targets {
  /** Messages not yet reported on by a delivery webhook, oldest first. */
  readonly unreported: PostalMessage[] = [];
  readonly reported: PostalMessage[] = [];
  readonly opens: string[] = [];
  readonly clicks: string[] = [];

  readonly onPostal = (m: ReceivedMessage): void => {
    this.unreported.push({
      id: m.id,
      token: m.token,
      messageId: m.messageId,
      to: m.body.to[0],
      from: m.body.from,
      subject: m.body.subject,
    });
    if (this.unreported.length > 5000) this.unreported.shift();
    for (const match of (m.body.html_body ?? '').matchAll(/\/t\/([oc])\/([A-Za-z0-9_.~-]+)/g)) {
      const ring = match[1] === 'o' ? this.opens : this.clicks;
      ring.push(`/t/${match[1]}/${match[2]}`);
      if (ring.length > 1000) ring.shift();
    }
  };

  pick<T>(list: T[]): T | undefined {
    return list.length ? list[Math.floor(Math.random() * list.length)] : undefined;
  }
}

/** A Postal webhook about one message, as Postal 3.x sends it (Rails JSON, signed). */
function webhookBody(i: number, t: Targets): string {
  const slot = i % 20;
  let event: string;
  let m: PostalMessage | undefined;
  if (slot < 16) {
    // Delivery outcomes: one per message, in the order Postal sent them.
    m = t.unreported.shift();
    if (m) {
      t.reported.push(m);
      if (t.reported.length > 2000) t.reported.shift();
    }
    event = slot < 14 ? 'MessageSent' : slot === 14 ? 'MessageDelayed' : 'MessageDeliveryFailed';
  } else {
    m = t.pick(t.reported);
    event = slot < 19 ? 'MessageLoaded' : 'MessageLinkClicked';
  }
  const now = Date.now() / 1000;
  const message = m
    ? {
        id: m.id,
        token: m.token,
        direction: 'outgoing',
        message_id: m.messageId,
        to: m.to,
        from: m.from,
        subject: m.subject,
        timestamp: now,
        spam_status: 'NotChecked',
        tag: 'bench',
      }
    : // Postal also reports on mail the app does not know (e.g. sent from elsewhere).
      { id: 999_000_000 + i, token: 'unknown', direction: 'outgoing', message_id: `x${i}@rp` };
  const delivery = (status: string, output: string, details: string) => ({
    message,
    status,
    details,
    output,
    sent_with_ssl: true,
    timestamp: now,
    time: 0.21,
  });
  const payload =
    event === 'MessageSent'
      ? delivery('Sent', '250 2.0.0 OK queued as ABC123', `Message for ${message.to} accepted`)
      : event === 'MessageDelayed'
        ? delivery('SoftFail', '451 4.3.0 Mail server temporarily rejected message', 'Deferred')
        : event === 'MessageDeliveryFailed'
          ? delivery('HardFail', '550 5.1.1 The email account does not exist', 'Permanent failure')
          : event === 'MessageLoaded'
            ? { message, ip_address: '203.0.113.7', user_agent: 'Mozilla/5.0 <Soak> & co' }
            : {
                message,
                url: 'https://shop.example/reports',
                token: 'l1',
                ip_address: '203.0.113.7',
                user_agent: 'Mozilla/5.0',
              };
  return railsJson({ event, timestamp: now, payload, uuid: randomUUID() });
}

interface Sample {
  t: number;
  rss: Record<string, number | null>;
  pgConns: Record<string, number>;
  redisConns: Record<string, number>;
  pgServer: number | null;
  redisServer: number | null;
  pending: Record<string, number> | null;
}

/** Least-squares slope per minute of a series over the samples after the warm-up. */
function perMinute(samples: Sample[], value: (s: Sample) => number | null): number {
  const pts = samples
    .map((s) => ({ x: s.t / 60, y: value(s) }))
    .filter((p): p is { x: number; y: number } => p.y !== null);
  return round(slope(pts), 3);
}

/** Max of the first half after the warm-up vs the last quarter: a growing count shows here. */
function growth(samples: Sample[], value: (s: Sample) => number | null) {
  const ys = samples.map(value).filter((y): y is number => y !== null);
  const firstHalf = ys.slice(0, Math.ceil(ys.length / 2));
  const lastQuarter = ys.slice(Math.floor((ys.length * 3) / 4));
  return {
    min: ys.length ? Math.min(...ys) : null,
    max_first_half: firstHalf.length ? Math.max(...firstHalf) : null,
    max_last_quarter: lastQuarter.length ? Math.max(...lastQuarter) : null,
    last: ys.length ? ys[ys.length - 1] : null,
    slope_per_min: perMinute(samples, value),
  };
}

/** Every sample of the last run, for the JSON report. */
let series: Sample[] = [];

async function soak(s: ScenarioEnv): Promise<void> {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey: KeyObject = signing.privateKey;
  const targets = new Targets();
  const st: Stack = await startStack(s, {
    kind: 'soak',
    webhookPublicKeyPem: signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    onPostal: targets.onPostal,
  });
  const dbName = new URL(st.dbUrl).pathname.slice(1);
  const pgPort = Number(new URL(SHARED_PG_URL).port || 5432);
  const pgObserver = new Client({ connectionString: SHARED_PG_URL });
  await pgObserver.connect();
  s.cleanups.add('PostgreSQL observer', () => pgObserver.end());
  const redisObserver = observerRedis(st.redis.url);
  s.cleanups.add('Redis observer', async () => redisObserver.disconnect());
  await waitUntil(
    'the Redis observer connected',
    () => redisObserver.status === 'ready',
    10_000,
    50,
  );

  const samples: Sample[] = [];
  series = samples;
  const started = Date.now();
  const sample = async (): Promise<Sample> => {
    const rss: Sample['rss'] = {};
    const pgConns: Sample['pgConns'] = {};
    const redisConns: Sample['redisConns'] = {};
    for (const name of PROCESSES) {
      const p = st.topo.get(name);
      rss[name] = p.rssMiB();
      const c = tcpConnectionsTo(p.pid, [pgPort, st.redis.port]);
      pgConns[name] = c[pgPort];
      redisConns[name] = c[st.redis.port];
    }
    const pgServer = await pgObserver
      .query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [
        dbName,
      ])
      .then((r) => r.rows[0].n)
      .catch(() => null);
    const redisServer = await withTimeout(
      redisObserver.client('LIST') as Promise<string>,
      3000,
      'CLIENT LIST',
    )
      .then(
        (list) =>
          list.split('\n').filter((l) => l.trim() && !l.includes('name=faults-observer')).length,
      )
      .catch(() => null);
    return {
      t: round((Date.now() - started) / 1000, 1),
      rss,
      pgConns,
      redisConns,
      pgServer,
      redisServer,
      pending: await st.queues.pending(),
    };
  };

  const loads: Record<Kind, SteadyLoad> = {
    send: new SteadyLoad(RATES.send, () => sendOne(st, 'soak')),
    batch: new SteadyLoad(1 / RATES.batchEveryS, (i) => postBatch(st, RATES.batchSize, `soak${i}`)),
    webhook: new SteadyLoad(RATES.webhook, (i) => {
      const body = webhookBody(i, targets);
      return st.api.call('POST', '/api/v1/webhook', {
        body,
        auth: false,
        headers: {
          'content-type': 'application/json',
          ...signPostalWebhook(Buffer.from(body), privateKey),
        },
      });
    }),
    open: new SteadyLoad(RATES.open, () => track(st, targets.pick(targets.opens))),
    click: new SteadyLoad(RATES.click, () => track(st, targets.pick(targets.clicks))),
  };
  s.log(
    `${MINUTES} min of traffic: /send ${RATES.send}/s, a ${RATES.batchSize}-recipient batch every ` +
      `${RATES.batchEveryS} s, webhooks ${RATES.webhook}/s, opens ${RATES.open}/s, clicks ${RATES.click}/s; ` +
      `sampling every ${SAMPLE_S} s`,
  );
  for (const l of Object.values(loads)) l.start();
  let lastLog = 0;
  while (Date.now() - started < MINUTES * 60_000) {
    const sm = await sample();
    samples.push(sm);
    if (sm.t - lastLog >= 60 || lastLog === 0) {
      lastLog = sm.t;
      const total = Object.values(loads).reduce((a, l) => a + l.outcomes.length, 0);
      const fivexx = Object.values(loads).reduce(
        (a, l) => a + l.outcomes.filter((o) => o.status >= 500).length,
        0,
      );
      s.log(
        `  t=${Math.round(sm.t)} s: ${total} requests (${fivexx} 5xx), delivered ${st.ledger.deliveredCount()}/` +
          `${st.ledger.accepted.size}; RSS MiB ${JSON.stringify(sm.rss)}; PG conns ${sm.pgServer}, ` +
          `Redis clients ${sm.redisServer}; pending ${JSON.stringify(sm.pending)}`,
      );
    }
    await sleep(Math.max(0, SAMPLE_S * 1000 - ((Date.now() - started) % (SAMPLE_S * 1000))));
  }
  await Promise.all(Object.values(loads).map((l) => l.stop()));
  const tEnd = Date.now();
  s.log('traffic stopped; waiting for the queues to drain…');

  let drained = true;
  try {
    await waitUntil(
      'queues drained',
      async () => {
        const p = await st.queues.pending();
        if (!p || p['email-delivery'] !== 0 || p.webhooks !== 0) return false;
        const rows = await statusCounts(st.dbUrl);
        if ((rows.queued ?? 0) + (rows.processing ?? 0) > 0) return false;
        const [u] = await query<{ n: number }>(
          st.dbUrl,
          'SELECT count(*)::int AS n FROM webhook_events WHERE processed_at IS NULL',
        );
        return u.n === 0 && st.ledger.allDelivered();
      },
      num('SOAK_DRAIN_S', 300) * 1000,
      1000,
    );
  } catch {
    drained = false;
  }
  const drainS = round((Date.now() - tEnd) / 1000, 1);
  const after = await sample();

  // ---- Figures
  const kinds = Object.keys(loads) as Kind[];
  const allOutcomes: Array<Outcome & { kind: Kind }> = kinds.flatMap((k) =>
    loads[k].outcomes.map((o) => ({ ...o, kind: k })),
  );
  const fivexx = allOutcomes.filter((o) => o.status >= 500);
  const unexpected = allOutcomes.filter((o) => o.status !== EXPECTED[o.kind]);
  const steady = samples.filter((x) => x.t >= WARMUP_S);
  const memory = Object.fromEntries(
    PROCESSES.map((p) => [
      p,
      {
        start_mib: samples[0]?.rss[p],
        after_warmup_mib: steady[0]?.rss[p],
        end_mib: samples[samples.length - 1]?.rss[p],
        max_mib: Math.max(...samples.map((x) => x.rss[p] ?? 0)),
        after_drain_mib: after.rss[p],
        slope_mb_per_min_after_warmup: perMinute(steady, (x) => x.rss[p]),
        slope_mb_per_min_second_half: perMinute(
          samples.filter((x) => x.t >= (MINUTES * 60) / 2),
          (x) => x.rss[p],
        ),
      },
    ]),
  );
  const connections = {
    postgres_server_for_db: growth(steady, (x) => x.pgServer),
    redis_server_clients: growth(steady, (x) => x.redisServer),
    ...Object.fromEntries(
      PROCESSES.flatMap((p) => [
        [`${p}_postgres`, growth(steady, (x) => x.pgConns[p])],
        [`${p}_redis`, growth(steady, (x) => x.redisConns[p])],
      ]),
    ),
  };
  const sum = st.ledger.summary();
  const [wh] = await query<{ total: number; errors: number; unprocessed: number }>(
    st.dbUrl,
    `SELECT count(*)::int AS total, count(*) FILTER (WHERE error IS NOT NULL)::int AS errors,
            count(*) FILTER (WHERE processed_at IS NULL)::int AS unprocessed FROM webhook_events`,
  );
  const webhookErrors = await query<{ error: string; n: number }>(
    st.dbUrl,
    `SELECT error, count(*)::int AS n FROM webhook_events WHERE error IS NOT NULL GROUP BY error`,
  );
  const [events] = await query<Record<string, number>>(
    st.dbUrl,
    `SELECT count(*) FILTER (WHERE event_type = 'opened')::int AS opened,
            count(*) FILTER (WHERE event_type = 'clicked')::int AS clicked,
            count(*) FILTER (WHERE event_type = 'delivered')::int AS delivered,
            count(*) FILTER (WHERE event_type = 'delayed')::int AS delayed,
            count(*) FILTER (WHERE event_type = 'bounced')::int AS bounced
       FROM email_events`,
  );
  Object.assign(s.figures, {
    minutes: MINUTES,
    rates: RATES,
    requests: allOutcomes.length,
    requests_by_kind: Object.fromEntries(
      kinds.map((k) => [
        k,
        {
          n: loads[k].outcomes.length,
          statuses: countBy(loads[k].outcomes, (o) => o.status),
          latency_ms: latencySummary(loads[k].outcomes.map((o) => o.ms)),
          skipped: loads[k].skipped,
        },
      ]),
    ),
    responses_5xx: fivexx.length,
    unexpected_statuses: unexpected.length,
    emails_accepted: sum.accepted,
    emails_delivered: sum.delivered,
    emails_duplicated: sum.duplicated.length,
    webhook_events: wh,
    // Events about mail the app does not know (the first seconds, before anything was sent).
    webhook_event_errors: Object.fromEntries(webhookErrors.map((r) => [r.error, r.n])),
    events_recorded: events,
    queues_drained: drained,
    drain_s: drainS,
    final_statuses: await statusCounts(st.dbUrl),
    warmup_s: WARMUP_S,
    samples: samples.length,
    memory,
    connections,
  });
  s.log(`memory: ${JSON.stringify(memory)}`);
  s.log(`connections: ${JSON.stringify(connections)}`);

  s.checks.check(
    'zero 5xx',
    fivexx.length === 0,
    fivexx.length
      ? JSON.stringify(countBy(fivexx, (o) => `${o.kind} ${o.status}`))
      : `0 of ${allOutcomes.length}`,
  );
  s.checks.check(
    'every answer as expected (202/200/302)',
    unexpected.length === 0 && kinds.every((k) => loads[k].skipped === 0),
    unexpected.length
      ? JSON.stringify(
          countBy(unexpected, (o) => `${o.kind} ${o.status} ${o.code ?? o.error ?? ''}`),
        )
      : `${allOutcomes.length} requests`,
  );
  s.checks.check(
    'queues drain at the end',
    drained,
    `${drainS} s; pending ${JSON.stringify(after.pending)}, webhooks unprocessed ${wh.unprocessed}`,
  );
  s.checks.check(
    'every accepted email delivered exactly once',
    sum.missing.length === 0 && sum.duplicated.length === 0 && sum.unexpected.length === 0,
    `${sum.delivered}/${sum.accepted}, ${sum.duplicated.length} twice`,
  );
  for (const p of PROCESSES) {
    const m = memory[p];
    s.checks.check(
      `${p}: resident memory flat (slope <= ${MAX_SLOPE_MB_PER_MIN} MB/min after ${WARMUP_S} s)`,
      m.slope_mb_per_min_after_warmup <= MAX_SLOPE_MB_PER_MIN,
      `${m.slope_mb_per_min_after_warmup} MB/min (${m.after_warmup_mib} → ${m.end_mib} MiB, max ${m.max_mib})`,
    );
  }
  for (const [name, g] of Object.entries(connections)) {
    // A pool may open a connection or two more under a burst; a leak keeps climbing.
    const slack = name.includes('postgres') ? 2 : 0;
    s.checks.check(
      `${name} connections not growing`,
      g.max_last_quarter !== null &&
        g.max_first_half !== null &&
        g.max_last_quarter <= g.max_first_half + slack,
      `first half max ${g.max_first_half}, last quarter max ${g.max_last_quarter}, slope ${g.slope_per_min}/min`,
    );
  }
}

async function track(st: Stack, path: string | undefined): Promise<HttpResult> {
  // Before the first message has left there is nothing to open: wait for one.
  for (let i = 0; !path && i < 50; i++) await sleep(200);
  if (!path) return { status: 0, ms: 0, body: null, headers: {}, error: 'no tracking link yet' };
  return st.api.call('GET', path, { auth: false });
}

async function main(): Promise<number> {
  const id = runId();
  const log = logger('soak');
  const s: ScenarioEnv = {
    id,
    log,
    checks: new Checks(),
    cleanups: new Cleanups(),
    logDir: logDir('soak', id),
    figures: {},
  };
  const loadStart = loadavg().map((l) => round(l, 2));
  const startedAt = new Date();
  let interrupted: (err: Error) => void = () => undefined;
  const onSignal = (): void => interrupted(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let error: string | undefined;
  try {
    await Promise.race([
      withTimeout(soak(s), (MINUTES * 60 + 900) * 1000, 'soak'),
      new Promise<never>((_, reject) => (interrupted = reject)),
    ]);
  } catch (err) {
    error = (err as Error).message;
    log(`soak broke: ${(err as Error).stack ?? error}`);
    s.checks.check('soak completed', false, error);
  } finally {
    log('cleaning up…');
    await s.cleanups.run(log);
  }
  process.stdout.write(
    `\nSoak — ${MINUTES} min\n` +
      `${Object.entries(s.figures)
        .map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join('\n')}\n${formatChecks(s.checks.list)}\n\n`,
  );
  const file = writeResults('soak', {
    started_at: startedAt.toISOString(),
    machine: { cpus: cpus().length, load_average_start: loadStart, load_average_end: loadavg() },
    node: process.version,
    figures: s.figures,
    checks: s.checks.list,
    log_dir: s.logDir,
    error,
    samples: series,
  });
  const ok = s.checks.ok;
  process.stdout.write(`soak: ${ok ? 'every invariant held' : 'FAILED'}. Wrote ${file}\n`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
