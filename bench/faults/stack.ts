import { randomUUID } from 'node:crypto';
import { FakePostal, ReceivedMessage } from 'test/fakes/fake-postal';
import { CONTENT, DOMAINS } from 'bench/lib/content';
import {
  ApiClient,
  Checks,
  Cleanups,
  databaseUrl,
  DeliveryLedger,
  dropDatabase,
  HttpResult,
  PrivatePostgres,
  PrivateRedis,
  QueueWatch,
  SHARED_PG_URL,
  Topology,
} from 'bench/faults/harness';

/** What a scenario gets from the runner. */
export interface ScenarioEnv {
  id: string;
  log: (line: string) => void;
  checks: Checks;
  cleanups: Cleanups;
  logDir: string;
  /** Figures to print and keep in the JSON report. */
  figures: Record<string, unknown>;
}

export interface Scenario {
  letter: string;
  title: string;
  /** The scenario is stopped (and cleaned up) when it runs longer than this. */
  deadlineS(): number;
  run(s: ScenarioEnv): Promise<void>;
}

export interface Stack {
  postal: FakePostal;
  ledger: DeliveryLedger;
  redis: PrivateRedis;
  pg?: PrivatePostgres;
  dbUrl: string;
  topo: Topology;
  api: ApiClient;
  queues: QueueWatch;
}

export interface StackOptions {
  /** A PostgreSQL cluster of our own (to restart it); else a database on the shared server. */
  privatePostgres?: boolean;
  workers?: number;
  env?: Record<string, string>;
  onLine?: (process: string, line: string) => void;
  onPostal?: (m: ReceivedMessage) => void;
  webhookPublicKeyPem?: string;
  kind?: string;
}

/**
 * FakePostal, a redis-server of our own, a database (on the shared PostgreSQL or a private
 * cluster) and the app as api + scheduler + worker processes; all registered for clean-up.
 */
export async function startStack(s: ScenarioEnv, opts: StackOptions = {}): Promise<Stack> {
  const ledger = new DeliveryLedger();
  const postal = await new FakePostal({
    keepBodies: false,
    onAccepted: (m) => {
      ledger.onPostal(m);
      opts.onPostal?.(m);
    },
  }).start();
  s.cleanups.add('FakePostal', () => postal.stop());

  const redis = new PrivateRedis();
  s.cleanups.add('redis-server', () => redis.stop());
  await redis.start();

  let serverUrl = SHARED_PG_URL;
  let pg: PrivatePostgres | undefined;
  if (opts.privatePostgres) {
    pg = new PrivatePostgres();
    s.cleanups.add('private PostgreSQL', () => pg!.destroy());
    await pg.init();
    await pg.start();
    serverUrl = pg.url();
  }
  const dbName = `email_sender_${opts.kind ?? 'faults'}_${s.id}`;
  if (!pg) s.cleanups.add(`database ${dbName}`, () => dropDatabase(serverUrl, dbName));
  const dbUrl = databaseUrl(serverUrl, dbName);

  const topo = new Topology({
    id: s.id,
    databaseUrl: dbUrl,
    redisUrl: redis.url,
    postal,
    logDir: s.logDir,
    env: opts.env,
    onLine: opts.onLine,
    webhookPublicKeyPem: opts.webhookPublicKeyPem,
  });
  s.cleanups.add('app processes', () => topo.stop());
  s.log(
    `starting api, scheduler and ${opts.workers ?? 1} worker process(es) ` +
      `(redis :${redis.port}, ${pg ? `private PostgreSQL :${pg.port}` : 'shared PostgreSQL'}, logs in ${s.logDir})…`,
  );
  await topo.start(opts.workers ?? 1);
  const api = new ApiClient(topo.apiUrl, topo.apiKey);
  s.cleanups.add('HTTP client', () => api.close());
  const queues = new QueueWatch(redis.url, topo.prefix, [
    'email-delivery',
    'webhooks',
    'analytics',
  ]);
  s.cleanups.add('queue observer', () => queues.close());
  return { postal, ledger, redis, pg, dbUrl, topo, api, queues };
}

/** `n` distinct recipients over DOMAINS domains, templated like the benchmark's. */
export function batchRecipients(tag: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    to: `u${i}-${tag}@d${i % DOMAINS}.faults.example`,
    variables: { first_name: `User${i}`, plan: ['free', 'team', 'business'][i % 3] },
  }));
}

/** POST /api/v1/batch; every accepted message goes into the ledger. */
export async function postBatch(
  st: Stack,
  n: number,
  tag: string,
): Promise<HttpResult & { acceptedIds: string[] }> {
  const res = await st.api.call('POST', '/api/v1/batch', {
    json: { ...CONTENT, recipients: batchRecipients(tag, n) },
  });
  const acceptedIds: string[] =
    res.status === 202
      ? (res.body.messages as Array<{ message_id: string }>).map((m) => m.message_id)
      : [];
  for (const id of acceptedIds) st.ledger.accept(id);
  return { ...res, acceptedIds };
}

/** POST /api/v1/send for one fresh recipient; a 202 goes into the ledger. */
export async function sendOne(st: Stack, tag: string): Promise<HttpResult> {
  const r = randomUUID().slice(0, 13);
  const res = await st.api.call('POST', '/api/v1/send', {
    json: {
      ...CONTENT,
      to: `one-${r}-${tag}@d${r.charCodeAt(0) % DOMAINS}.faults.example`,
      variables: { first_name: 'Ann', plan: 'team' },
    },
  });
  if (res.status === 202) st.ledger.accept(res.body.message_id as string);
  return res;
}

/**
 * Waits (at most `timeoutMs`) until at least `min` send requests are open at Postal, so that a
 * signal lands while jobs are in flight rather than between two bursts.
 */
export async function whenSending(
  postal: FakePostal,
  min: number,
  timeoutMs = 10_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (postal.inFlight < min && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
