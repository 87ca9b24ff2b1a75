import { randomUUID } from 'node:crypto';
import type { RedisService } from 'src/infra/redis/redis.service';

/** Deletes the key only if this holder still owns it. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Extends the key only if this holder still owns it. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * One drain per endpoint at a time, across worker processes (docs/ARCHITECTURE.md "Event
 * webhooks"): a Redis key with a token and an expiry, renewed by its holder between chunks,
 * so a holder that dies frees the endpoint after `ttlMs`.
 */
export class EndpointLease {
  private readonly token = randomUUID();

  constructor(
    private readonly redis: RedisService,
    private readonly endpointId: string,
    private readonly ttlMs: number,
  ) {}

  private get key(): string {
    return this.redis.key('event-webhooks', 'lease', this.endpointId);
  }

  async acquire(): Promise<boolean> {
    return (await this.redis.client.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  async renew(): Promise<boolean> {
    return Number(await this.redis.client.eval(RENEW, 1, this.key, this.token, this.ttlMs)) === 1;
  }

  async release(): Promise<void> {
    await this.redis.client.eval(RELEASE, 1, this.key, this.token);
  }
}
