import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConnectionOptions, Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { Client, Pool } from 'pg';
import { Agent, request } from 'undici';
import { AppConfig, loadConfig } from 'src/config/app-config';
import { createHttpApp } from 'src/create-app';
import { defaultJobOptions, QueueName } from 'src/infra/queue/queue.constants';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { EmailDeliveryProcessor } from 'src/modules/emails/email-delivery.processor';
import { prepareInfrastructure } from 'src/startup';
import { RemotePostal } from 'bench/lib/remote-postal';

export const PG_ADMIN_URL =
  process.env.BENCH_PG_URL ??
  process.env.TEST_PG_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL =
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** Everything one benchmark run shares: the app, its fakes, and raw clients for the baselines. */
export interface BenchEnv {
  config: AppConfig;
  app: NestExpressApplication;
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
  /** The app's delivery queue and worker (paused and resumed around measurements). */
  appQueue: Queue;
  appWorker: Worker;
  /** A queue with the delivery queue's options, under our prefix, that no app worker reads. */
  rawQueue(name: string): Queue;
  /** The key Postal would sign webhooks with (PEM); the app trusts its public half. */
  webhookPrivateKeyPem: string;
  /** POST with a JSON body to the app; resolves with the status and the parsed answer. */
  post(path: string, body: string): Promise<{ status: number; body: unknown }>;
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
 * the app with roles api+worker listening on a random port. Domain rates and abuse limits
 * are set out of the way so that they never cap a figure.
 */
export async function startBenchEnv(): Promise<BenchEnv> {
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
      LOG_LEVEL: 'warn',
      APP_ROLES: 'api,worker',
      MAIL_TRANSPORT: 'postal',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
      TRACKING_SECRET: `bench-tracking-secret-${randomBytes(16).toString('hex')}`,
      PUBLIC_URL: 'https://mail.bench.example',
      DOMAIN_RATE_DEFAULT: '100000',
      RATE_LIMIT_IP_PER_MIN: '100000000',
      RATE_LIMIT_KEY_PER_MIN: '100000000',
      RATE_LIMIT_BATCH_PER_MIN: '100000',
    };
    // The two knobs that shape throughput may be set from outside (defaults otherwise).
    for (const k of ['WORKER_CONCURRENCY', 'DB_POOL_SIZE']) {
      if (process.env[k]) env[k] = process.env[k]!;
    }
    const config = loadConfig(env);

    cleanups.push(() =>
      withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`)),
    );
    cleanups.push(() => clearRedisPrefix(prefix));
    await prepareInfrastructure(config);

    const app = await createHttpApp(config);
    cleanups.push(() => app.close());
    await app.listen(0, '127.0.0.1');
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const baseUrl = `http://127.0.0.1:${port}`;

    const created = await app.get(ApiKeysService).create('bench', 'full');
    const pool = new Pool({ connectionString: config.databaseUrl, max: config.dbPoolSize });
    cleanups.push(() => pool.end());

    const bullConnection = {
      ...redisOptionsFromUrl(config.redisUrl),
      maxRetriesPerRequest: null,
    } as ConnectionOptions;
    const bullPrefix = `${prefix}:bull`;
    const rawQueues: Queue[] = [];
    cleanups.push(() => Promise.all(rawQueues.map((q) => q.close())));

    const client = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
    cleanups.push(() => client.close());

    const webhookPrivateKeyPem = signing.privateKey
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
    return {
      webhookPrivateKeyPem,
      config,
      app,
      baseUrl,
      apiKey: created.key,
      apiKeyId: created.id,
      postal,
      pool,
      databaseName,
      bullConnection,
      bullPrefix,
      appQueue: app.get<Queue>(getQueueToken(QueueName.EmailDelivery)),
      appWorker: app.get(EmailDeliveryProcessor).worker,
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
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
