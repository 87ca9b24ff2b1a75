import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

/** A Lua script run by EVALSHA, falling back to EVAL once when Redis has not cached it. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // A restarted or flushed Redis forgets cached scripts; EVAL caches it again.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Lowest factor a domain's rate can be reduced to (README "How mail flows", 4). */
export const MIN_FACTOR = 0.1;

/** The factor as the acquire script reads it: missing or invalid → 1, below the floor → 0.1. */
export function parseFactor(raw: string | null): number {
  const f = raw === null ? NaN : Number(raw);
  if (!Number.isFinite(f) || f <= 0) return 1;
  return Math.max(MIN_FACTOR, f);
}

/** Retry hint while sending is paused: long enough not to spin, short enough to resume soon. */
export const PAUSED_RETRY_MS = 5000;

/** How long a denied transactional message holds its claim on the next token, past its wait. */
export const TRANSACTIONAL_HOLD_MS = 2000;

/**
 * Pause checks, factor lookup and one token from the domain's bucket in one round trip.
 * Time comes from the Redis server (TIME), so the clocks of different workers don't matter.
 *
 * KEYS: [1] global pause flag, [2] domain pause flag, [3] the stream's pause flag, [4] domain
 * factor, [5] bucket hash, [6] the domain's waiting transactional messages (sorted set, scored
 * by when their hold lapses, µs), [7] the domain's broadcast lane (µs of its last slot).
 * ARGV: [1] configured rate (messages/s), [2] retry hint while paused (ms), [3] lane: `t`
 * (transactional) or `b` (broadcast), [4] the message id.
 * Returns {granted 0|1, retry after ms, reason 0 none|1 paused|2 rate}.
 *
 * The bucket holds max(1, rate × factor) tokens (a one-second burst) and refills at
 * rate × factor per second. Its hash expires a little after it would be full again, when
 * a missing hash means the same thing: a full bucket.
 *
 * Two lanes share the bucket (README "Streams"): a transactional message that finds no token
 * is recorded as waiting, and while any transactional message waits, broadcast takes no
 * token — so the next token goes to transactional mail whatever the broadcast backlog. A
 * broadcast message that gets no token is given a slot in its lane, one 1/rate after the
 * last one handed out, and told to come back then: a backlog of thousands is spread over
 * time at the domain's rate instead of all asking again at once.
 */
export const ACQUIRE_SCRIPT = new RedisScript(`
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then
  return {0, tonumber(ARGV[2]), 1}
end
local factor = tonumber(redis.call('GET', KEYS[4]))
if factor == nil or factor <= 0 then factor = 1 elseif factor < 0.1 then factor = 0.1 end
local rate = tonumber(ARGV[1]) * factor
local capacity = math.max(1, rate)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
elseif now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000000)
else
  tokens = math.min(capacity, tokens)
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
local granted = 0
local waitMs = 0
if ARGV[3] == 't' then
  if tokens >= 1 then
    tokens = tokens - 1
    granted = 1
    redis.call('ZREM', KEYS[6], ARGV[4])
  else
    waitMs = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
    redis.call('ZADD', KEYS[6], now + (waitMs + ${TRANSACTIONAL_HOLD_MS}) * 1000, ARGV[4])
    redis.call('PEXPIRE', KEYS[6], waitMs + ${TRANSACTIONAL_HOLD_MS})
  end
elseif tokens >= 1 and redis.call('ZCARD', KEYS[6]) == 0 then
  tokens = tokens - 1
  granted = 1
else
  local slot = tonumber(redis.call('GET', KEYS[7]))
  if slot == nil or slot < now then slot = now end
  slot = slot + 1000000 / rate
  redis.call('SET', KEYS[7], string.format('%.0f', slot), 'PX', math.ceil((slot - now) / 1000) + 1000)
  waitMs = math.max(1, math.ceil((slot - now) / 1000))
end
redis.call('HSET', KEYS[5], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[5], math.ceil(capacity * 1000 / rate) + 1000)
if granted == 1 then return {1, 0, 0} end
return {0, waitMs, 2}
`);
