import Redis from 'ioredis';
import { Client } from 'pg';
import { AppConfig } from 'src/config/app-config';
import { createDataSource } from 'src/data-source';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';

/** A start-up failure with one clear line for the operator (no stack trace needed). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

const errText = (err: unknown): string => {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
};

/** Creates the database named in DATABASE_URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const dbName = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  const client = new Client({
    connectionString: adminUrl.toString(),
    connectionTimeoutMillis: 5000,
  });
  try {
    await client.connect();
  } catch (err) {
    throw new StartupError(
      `PostgreSQL is unreachable at ${redactUrl(databaseUrl)} (${errText(err)}). ` +
        'Start PostgreSQL or set DATABASE_URL to a reachable server.',
    );
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      dbName,
    ]);
    if (rowCount === 0) {
      await client
        .query(`CREATE DATABASE "${dbName.replace(/"/g, '""')}"`)
        .catch((err: { code?: string }) => {
          // 42P04: another process created it first.
          if (err.code !== '42P04') throw err;
        });
    }
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(
      `Could not create database "${dbName}" at ${redactUrl(databaseUrl)} (${errText(err)}). ` +
        'Create it by hand or grant CREATEDB to the user in DATABASE_URL.',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Connects to the database in DATABASE_URL itself, without creating anything (the doctor);
 * throws a StartupError saying what to do.
 */
export async function probePostgres(databaseUrl: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    const missing = (err as { code?: string }).code === '3D000';
    throw new StartupError(
      missing
        ? `The database in ${redactUrl(databaseUrl)} does not exist. Run \`npm run cli -- migrate\` (or start the app once): it creates and migrates it.`
        : `PostgreSQL is unreachable at ${redactUrl(databaseUrl)} (${errText(err)}). ` +
            'Start PostgreSQL or set DATABASE_URL to a reachable server.',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Names of the migrations not applied yet (without applying them). */
export async function pendingMigrations(config: Pick<AppConfig, 'databaseUrl'>): Promise<string[]> {
  const ds = createDataSource({ databaseUrl: config.databaseUrl, dbPoolSize: 1 });
  await ds.initialize();
  try {
    const [{ exists }]: Array<{ exists: boolean }> = await ds.query(
      `SELECT to_regclass('migrations') IS NOT NULL AS exists`,
    );
    const done = new Set<string>(
      exists
        ? (await ds.query(`SELECT name FROM migrations`)).map((r: { name: string }) => r.name)
        : [],
    );
    return ds.migrations.map((m) => m.name ?? m.constructor.name).filter((n) => !done.has(n));
  } finally {
    await ds.destroy();
  }
}

/** Fails fast with a clear line when Redis does not answer. */
export async function checkRedis(redisUrl: string): Promise<void> {
  const client = new Redis({
    ...redisOptionsFromUrl(redisUrl),
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new StartupError(
      `Redis is unreachable at ${redactUrl(redisUrl)} (${errText(err)}). ` +
        'Start Redis or set REDIS_URL to a reachable server.',
    );
  } finally {
    client.disconnect();
  }
}

const MIGRATION_LOCK_KEY = 'email-sender:migrations';

/**
 * Runs pending migrations under a PostgreSQL advisory lock, so that several processes
 * starting together migrate once and the others wait, then find nothing to do.
 */
export async function runMigrations(config: Pick<AppConfig, 'databaseUrl'>): Promise<string[]> {
  const ds = createDataSource({ databaseUrl: config.databaseUrl, dbPoolSize: 2 });
  await ds.initialize();
  const runner = ds.createQueryRunner();
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    try {
      const done = await ds.runMigrations({ transaction: 'each' });
      return done.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
    await ds.destroy();
  }
}

/** Everything that must hold before Nest starts: reachable services and a migrated schema. */
export async function prepareInfrastructure(config: AppConfig): Promise<string[]> {
  await ensureDatabase(config.databaseUrl);
  await checkRedis(config.redisUrl);
  try {
    return await runMigrations(config);
  } catch (err) {
    throw new StartupError(`Database migrations failed: ${(err as Error).message}`);
  }
}
