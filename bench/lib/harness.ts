import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ConnectionOptions, Queue } from 'bullmq';
import Redis from 'ioredis';
import { Client, Pool } from 'pg';
import { Agent, request } from 'undici';
import { AppConfig, loadConfig } from 'src/config/app-config';
import { defaultJobOptions, QueueName } from 'src/infra/queue/queue.constants';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';
import { displayPrefix, generateApiKey, hashApiKey } from 'src/modules/auth/api-key.format';
import { prepareInfrastructure } from 'src/startup';
import { AppProcess, freePort, spawnApp } from 'bench/lib/app-process';
import { RemotePostal } from 'bench/lib/remote-postal';

/** The recipient domain of scenario (p) and its configured rate (messages/s). */
export const PRIORITY_DOMAIN = 'prio.bench.example';
export const PRIORITY_DOMAIN_RATE = Number(process.env.BENCH_PRIORITY_RATE ?? 200);

export const PG_ADMIN_URL =
  process.env.BENCH_PG_URL ??
  process.env.TEST_PG_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL =
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** Pauses and resumes delivery for the whole queue (every worker process). */
export interface DeliverySwitch {
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/**
 * How the app is started: `default` is exactly `npm start` (`node dist/src/main.js`, APP_ROLES
 * unset, so every role: whatever processes main.js makes of that); `split` is one process with
 * `APP_ROLES=api` and one with `APP_ROLES=worker` (README "Processes, roles and scaling out").
 */
export type Topology = 'default' | 'split';

/** Everything one benchmark run shares: the app, its fakes, and raw clients for the baselines. */
export interface BenchEnv {
  topology: Topology;
  config: AppConfig;
  /** The processes the bench spawned (each with its descendants, see AppProcess.tree). */
  processes: AppProcess[];
  baseUrl: string;
  apiKey: string;
  apiKeyId: number;
  /** FakePostal (zero latency, counting only) on its own thread. */
  postal: RemotePostal;
  /** Raw PostgreSQL pool (the same size as the app's) for baselines and measurements. */
  pool: Pool;
  databaseName: string;
  /** Connection options for BullMQ queues/workers of the baselines. */
  bullConnection: ConnectionOptions;
  bullPrefix: string;
  /** The app's delivery queue; `appWorker` pauses it globally around measurements. */
  appQueue: Queue;
  appWorker: DeliverySwitch;
  /** A queue with the delivery queue's options, under our prefix, that no app worker reads. */
  rawQueue(name: string): Queue;
  /** The key Postal would sign webhooks with (PEM); the app trusts its public half. */
  webhookPrivateKeyPem: string;
  /** POST with a JSON body to the app; resolves with the status and the parsed answer. */
  post(path: string, body: string): Promise<{ status: number; body: unknown }>;
  /** DELETE on the app; resolves with the status. */
  delete(path: string): Promise<{ status: number }>;
  close(): Promise<void>;
}

function urlForDatabase(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function clearRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Boots FakePostal (count-only), a fresh migrated database `email_sender_bench_<rand>`, and
 * the built app (`dist/`) in `topology`: `split`, two processes — `APP_ROLES=api` on a free port
 * and `APP_ROLES=worker` — the way it is deployed; `default`, one `node dist/src/main.js` with
 * APP_ROLES unset, as `npm start` runs it. Domain rates and abuse limits are set out of the way
 * so that they never cap a figure. `overrides` adds to or replaces the app's environment (a
 * scenario that needs another transport boots an env of its own with them).
 */
export async function startBenchEnv(
  overrides: Record<string, string> = {},
  topology: Topology = 'split',
): Promise<BenchEnv> {
  const id = randomBytes(4).toString('hex');
  const databaseName = `email_sender_bench_${id}`;
  const prefix = `bench-${id}`;
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err: unknown) => process.stderr.write(`bench cleanup: ${String(err)}\n`));
    }
  };

  try {
    const postal = await new RemotePostal().start();
    cleanups.push(() => postal.stop());

    const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const env: Record<string, string> = {
      POSTAL_WEBHOOK_PUBLIC_KEY: signing.publicKey
        .export({ type: 'spki', format: 'pem' })
        .toString(),
      NODE_ENV: 'development',
      DATABASE_URL: urlForDatabase(databaseName),
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      MAIL_TRANSPORT: 'postal',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      TRACKING_SECRET: `bench-tracking-secret-${randomBytes(16).toString('hex')}`,
      PUBLIC_URL: 'https://mail.bench.example',
      DOMAIN_RATE_DEFAULT: '100000',
      // Scenario (p) drains a broadcast backlog at one domain's configured rate.
      DOMAIN_RATE_OVERRIDES: `${PRIORITY_DOMAIN}=${PRIORITY_DOMAIN_RATE}`,
      RATE_LIMIT_IP_PER_MIN: '100000000',
      RATE_LIMIT_KEY_PER_MIN: '100000000',
      RATE_LIMIT_BATCH_PER_MIN: '100000',
    };
    // The knobs that shape throughput may be set from outside (defaults otherwise: LOG_LEVEL
    // `info`, one access line per request, as `npm start` logs; see bench/README.md).
    for (const k of [
      'API_PROCESSES',
      'WORKER_CONCURRENCY',
      'DB_POOL_SIZE',
      'WORKER_ADAPTIVE_CONCURRENCY',
      'LOG_LEVEL',
    ]) {
      if (process.env[k]) env[k] = process.env[k]!;
    }
    Object.assign(env, overrides);
    const config = loadConfig(env);

    cleanups.push(() =>
      withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`)),
    );
    cleanups.push(() => clearRedisPrefix(prefix));
    await prepareInfrastructure(config);

    // The bench's own key, stored before the API starts (so it creates no first key).
    const pool = new Pool({ connectionString: config.databaseUrl, max: config.dbPoolSize });
    cleanups.push(() => pool.end());
    const key = generateApiKey();
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO api_keys (name, scope, key_prefix, key_hash, active)
       VALUES ('bench', 'full', $1, $2, true) RETURNING id`,
      [displayPrefix(key), hashApiKey(key)],
    );
    const created = { key, id: rows[0].id };

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const processes: AppProcess[] = [];
    if (topology === 'default') {
      // Nothing but what a newcomer's shell adds: PORT (and the database, Redis, Postal above).
      const all = await spawnApp('default', { ...env, PORT: String(port) });
      cleanups.push(() => all.stop());
      processes.push(all);
      await all.waitForHttp(`${baseUrl}/health/live`);
    } else {
      const api = await spawnApp('split-api', { ...env, APP_ROLES: 'api', PORT: String(port) });
      cleanups.push(() => api.stop());
      processes.push(api);
      await api.waitForHttp(`${baseUrl}/health/live`);
      const worker = await spawnApp('split-worker', { ...env, APP_ROLES: 'worker' });
      cleanups.push(() => worker.stop());
      processes.push(worker);
    }

    const bullConnection = {
      ...redisOptionsFromUrl(config.redisUrl),
      maxRetriesPerRequest: null,
    } as ConnectionOptions;
    const bullPrefix = `${prefix}:bull`;
    const rawQueues: Queue[] = [];
    cleanups.push(() => Promise.all(rawQueues.map((q) => q.close())));
    const appQueue = new Queue(QueueName.EmailDelivery, {
      connection: bullConnection,
      prefix: bullPrefix,
    });
    cleanups.push(() => appQueue.close());
    await waitUntil(async () => (await appQueue.getWorkersCount()) > 0, 30_000, 'worker ready');

    const client = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
    cleanups.push(() => client.close());

    const webhookPrivateKeyPem = signing.privateKey
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
    return {
      webhookPrivateKeyPem,
      topology,
      config,
      processes,
      baseUrl,
      apiKey: created.key,
      apiKeyId: created.id,
      postal,
      pool,
      databaseName,
      bullConnection,
      bullPrefix,
      appQueue,
      appWorker: {
        pause: () => appQueue.pause(),
        resume: () => appQueue.resume(),
      },
      rawQueue(name: string): Queue {
        const q = new Queue(name, {
          connection: bullConnection,
          prefix: bullPrefix,
          defaultJobOptions: defaultJobOptions(QueueName.EmailDelivery, config),
        });
        rawQueues.push(q);
        return q;
      },
      async post(path: string, body: string) {
        const res = await request(`${baseUrl}${path}`, {
          method: 'POST',
          dispatcher: client,
          headers: { authorization: `Bearer ${created.key}`, 'content-type': 'application/json' },
          body,
        });
        return { status: res.statusCode, body: await res.body.json() };
      },
      async delete(path: string) {
        const res = await request(`${baseUrl}${path}`, {
          method: 'DELETE',
          dispatcher: client,
          headers: { authorization: `Bearer ${created.key}` },
        });
        await res.body.dump();
        return { status: res.statusCode };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
