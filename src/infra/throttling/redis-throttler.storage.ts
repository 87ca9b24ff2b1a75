import { Injectable, Logger } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { RedisService } from 'src/infra/redis/redis.service';

interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

// Fixed window counter + block flag. KEYS: hits, block. ARGV: ttl ms, limit, block ms.
// Returns {hits, window ms left, blocked 0/1, block ms left}.
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {hits, ttl, 1, blocked} end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, ttl, 1, tonumber(ARGV[3])}
end
return {hits, ttl, 0, 0}`;

/**
 * @nestjs/throttler storage in Redis so limits hold across API processes. Fails open when
 * Redis does not answer: a cache outage must not take the API down (the outbox path relies
 * on accepting mail while Redis is gone).
 */
@Injectable()
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(RedisThrottlerStorage.name);

  constructor(private readonly redis: RedisService) {
    // EVALSHA after the first call instead of sending the script every request.
    redis.client.defineCommand('throttleIncrement', { numberOfKeys: 2, lua: INCREMENT });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    try {
      const client = this.redis.client as unknown as {
        throttleIncrement(
          ...args: Array<string | number>
        ): Promise<[number, number, number, number]>;
      };
      const [hits, ttlMs, blocked, blockMs] = (await client.throttleIncrement(
        this.redis.key('rl', throttlerName, key),
        this.redis.key('rl', throttlerName, key, 'blocked'),
        ttl,
        limit,
        blockDuration,
      )) as [number, number, number, number];
      return {
        totalHits: hits,
        timeToExpire: Math.ceil(ttlMs / 1000),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.ceil(blockMs / 1000),
      };
    } catch (err) {
      this.logger.warn(`rate limit not applied (${throttlerName}): ${(err as Error).message}`);
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
  }
}
