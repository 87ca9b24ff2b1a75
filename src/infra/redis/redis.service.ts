import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { waitAtMost } from 'src/common/async/timeout';
import { AppConfig } from 'src/config/app-config';

/** Connection options shared by our own client and BullMQ's connections. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isFinite(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    connectTimeout: 5000,
  };
}

/**
 * The app's own Redis client (rate limits, bans, rate control, caches). Commands fail fast
 * while Redis is down (no offline queue), so a request never hangs waiting for it.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  private readonly prefix: string;

  constructor(config: AppConfig) {
    this.prefix = config.redisKeyPrefix;
    this.client = new Redis({
      ...redisOptionsFromUrl(config.redisUrl),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      lazyConnect: false,
      // Commands issued in the same tick (a request's ban check and throttles, concurrent
      // requests' rate-control tokens) go out in one write and come back in one read.
      enableAutoPipelining: true,
    });
    this.client.on('error', (err: Error) => this.logger.warn(`redis: ${err.message}`));
  }

  /** A namespaced key: `<prefix>:<part>:<part>…`. */
  key(...parts: Array<string | number>): string {
    return [this.prefix, ...parts].join(':');
  }

  /** Waits (bounded) for the first connection so early commands don't fail spuriously. */
  async onModuleInit(): Promise<void> {
    if (this.client.status === 'ready') return;
    const ready = new Promise<void>((resolve) => this.client.once('ready', () => resolve()));
    await waitAtMost(ready, 5000);
  }

  async ping(): Promise<boolean> {
    return (await this.client.ping()) === 'PONG';
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
