import type { NestExpressApplication } from '@nestjs/platform-express';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { AppConfig, loadConfig } from 'src/config/app-config';
import { createHttpApp } from 'src/create-app';
import { ApiKeyScope } from 'src/modules/auth/api-key.entity';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { createTestDatabase, TestDatabase, testRedisPrefix } from 'test/utils/test-db';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  db: TestDatabase;
  dataSource: DataSource;
  /** HTTP server for supertest. */
  server: ReturnType<NestExpressApplication['getHttpServer']>;
  createKey(scope?: ApiKeyScope): Promise<string>;
  close(): Promise<void>;
}

/** Deletes every Redis key under a test prefix. */
export async function clearRedisPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
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

/** Environment every test app starts from; tests override what they exercise. */
export function testEnv(
  db: TestDatabase,
  prefix: string,
  env: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    DB_POOL_SIZE: '5',
    APP_ROLES: 'api',
    TRACKING_SECRET: 'test-tracking-secret-0123456789abcdef',
    // Tests stand in for a reverse proxy on loopback: X-Forwarded-For picks the client address.
    // The app's own default trusts no proxy; pass TRUST_PROXY: '' to test that.
    TRUST_PROXY: 'loopback',
    ...env,
  };
}

/**
 * Boots the real application (all middleware, guards, filters) on a database cloned from the
 * migrated template and a Redis prefix of its own.
 */
export async function bootTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const prefix = testRedisPrefix();
  const config = loadConfig(testEnv(db, prefix, env));
  const app = await createHttpApp(config);
  await app.init();
  const keys = app.get(ApiKeysService);
  return {
    app,
    config,
    db,
    dataSource: app.get(DataSource),
    server: app.getHttpServer(),
    createKey: async (scope: ApiKeyScope = 'full') =>
      (await keys.create(`test ${scope}`, scope)).key,
    close: async () => {
      await app.close();
      await clearRedisPrefix(prefix);
      await db.drop();
    },
  };
}
