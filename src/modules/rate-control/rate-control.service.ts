import { Injectable, Logger } from '@nestjs/common';
import { STREAMS, type Stream } from 'src/common/streams';
import { AppConfig } from 'src/config/app-config';
import { RedisService } from 'src/infra/redis/redis.service';
import { normalizeDomain } from 'src/modules/rate-control/dto/rate-control-domain.dto';
import {
  ACQUIRE_SCRIPT,
  MIN_FACTOR,
  parseFactor,
  PAUSED_RETRY_MS,
  RedisScript,
} from 'src/modules/rate-control/token-bucket';

export type AcquireResult =
  { granted: true } | { granted: false; retryAfterMs: number; reason: 'paused' | 'rate' };

export interface DomainRateState {
  domain: string;
  factor: number;
  rate_per_sec: number;
  /** When a reduced factor lapses back to 1 (ISO 8601); null when not reduced. */
  expires_at: string | null;
  /** The domain's own pause flag; pausing all sending is reported separately. */
  paused: boolean;
}

const DEFAULT_REDUCE_BY = 0.5;
const DEFAULT_REDUCE_FOR_S = 3600;

// Multiplies the factor (missing = 1), floors it, stores it with a fresh TTL and indexes it.
// KEYS: factor, index. ARGV: multiplier, floor, ttl ms, domain. Returns the new factor.
const REDUCE = new RedisScript(`
local f = (tonumber(redis.call('GET', KEYS[1])) or 1) * tonumber(ARGV[1])
if f < tonumber(ARGV[2]) then f = tonumber(ARGV[2]) end
f = math.floor(f * 1000000 + 0.5) / 1000000
local s = string.format('%.17g', f)
redis.call('SET', KEYS[1], s, 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return s`);

// KEYS: pause flag, index. ARGV: domain.
const PAUSE = new RedisScript(`
redis.call('SET', KEYS[1], '1')
redis.call('SADD', KEYS[2], ARGV[1])
return 1`);

// Drops the domain from the index unless it is still reduced or paused.
// KEYS: factor, pause flag, index. ARGV: domain.
const UNINDEX_IF_IDLE = `
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  return redis.call('SREM', KEYS[3], ARGV[1])
end
return 0`;

const UNINDEX = new RedisScript(UNINDEX_IF_IDLE);

// KEYS: factor, pause flag, index. ARGV: domain.
const RESUME = new RedisScript(`redis.call('DEL', KEYS[2])\n${UNINDEX_IF_IDLE}`);

// KEYS: factor, pause flag, index, bucket. ARGV: domain. A fresh bucket starts full.
const RESET = new RedisScript(`redis.call('DEL', KEYS[1], KEYS[4])\n${UNINDEX_IF_IDLE}`);

/**
 * Per-domain sending rates and pausing (README "Management"), all in Redis so every worker
 * process shares them. The delivery worker calls `acquire` before each send.
 *
 * Keys: `rate-control:factor:<domain>` (factor with a TTL), `…:bucket:<domain>` (token
 * bucket hash), `…:tx-waiting:<domain>` and `…:broadcast-slot:<domain>` (the bucket's two
 * lanes), `…:paused:<domain>`, `…:paused-stream:<stream>`, `…:paused-all`, and `…:domains`,
 * a set indexing the domains that are reduced or paused so listing them never scans the
 * keyspace.
 */
@Injectable()
export class RateControlService {
  private readonly logger = new Logger(RateControlService.name);

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Takes one token for `domain` in a single round trip, in the lane of `stream`
   * (transactional first: see ACQUIRE_SCRIPT). Throws when Redis is unavailable: the caller
   * retries later rather than sending unthrottled.
   */
  async acquire(
    domain: string,
    lane: { stream: Stream; messageId: string } = { stream: 'transactional', messageId: '' },
  ): Promise<AcquireResult> {
    const d = domainKey(domain);
    const [granted, retryAfterMs, reason] = (await ACQUIRE_SCRIPT.run(
      this.redis.client,
      [
        this.pausedAllKey(),
        this.pausedKey(d),
        this.pausedStreamKey(lane.stream),
        this.factorKey(d),
        this.bucketKey(d),
        this.redis.key('rate-control', 'tx-waiting', d),
        this.redis.key('rate-control', 'broadcast-slot', d),
      ],
      [
        this.baseRate(d),
        PAUSED_RETRY_MS,
        lane.stream === 'broadcast' ? 'b' : 't',
        lane.messageId || 'anonymous',
      ],
    )) as [number, number, number];
    if (granted === 1) return { granted: true };
    return { granted: false, retryAfterMs, reason: reason === 1 ? 'paused' : 'rate' };
  }

  /**
   * Multiplies the domain's factor by `factor` (default: halves it), never below 0.1, and
   * (re)starts its expiry at `durationS` seconds. Returns the new factor.
   */
  async reduceRate(
    domain: string,
    factor = DEFAULT_REDUCE_BY,
    durationS = DEFAULT_REDUCE_FOR_S,
  ): Promise<number> {
    if (!Number.isFinite(factor) || factor <= 0 || factor > 1) {
      throw new RangeError(`factor must be in (0, 1], got ${factor}`);
    }
    if (!Number.isFinite(durationS) || durationS <= 0) {
      throw new RangeError(`durationS must be positive, got ${durationS}`);
    }
    const d = domainKey(domain);
    const result = await REDUCE.run(
      this.redis.client,
      [this.factorKey(d), this.indexKey()],
      [factor, MIN_FACTOR, Math.max(1, Math.round(durationS * 1000)), d],
    );
    const next = Number(result);
    this.logger.warn({ domain: d, factor: next, durationS }, 'domain sending rate reduced');
    return next;
  }

  async getRate(domain: string): Promise<DomainRateState> {
    const d = domainKey(domain);
    const [factor, pttl, paused] = await this.exec(
      this.redis.client
        .pipeline()
        .get(this.factorKey(d))
        .pttl(this.factorKey(d))
        .exists(this.pausedKey(d)),
    );
    return this.state(d, factor as string | null, pttl as number, paused === 1);
  }

  /** Restores the configured rate now (factor 1, full bucket); a pause stays as it is. */
  async resetRate(domain: string): Promise<void> {
    const d = domainKey(domain);
    await RESET.run(
      this.redis.client,
      [this.factorKey(d), this.pausedKey(d), this.indexKey(), this.bucketKey(d)],
      [d],
    );
    this.logger.log({ domain: d }, 'domain sending rate reset');
  }

  /**
   * Pauses sending to `domain`, or of one stream (README "Streams"), or all sending without
   * either, until resumed. Paused messages wait in the queue; none fails.
   */
  async pause(domain?: string, stream?: Stream): Promise<void> {
    if (stream !== undefined) {
      await this.redis.client.set(this.pausedStreamKey(stream), '1');
      this.logger.warn({ stream }, 'sending of stream paused');
      return;
    }
    if (domain === undefined) {
      await this.redis.client.set(this.pausedAllKey(), '1');
      this.logger.warn('all sending paused');
      return;
    }
    const d = domainKey(domain);
    await PAUSE.run(this.redis.client, [this.pausedKey(d), this.indexKey()], [d]);
    this.logger.warn({ domain: d }, 'sending to domain paused');
  }

  /** Lifts the domain's own pause, or the stream's, or the pause of all sending. */
  async resume(domain?: string, stream?: Stream): Promise<void> {
    if (stream !== undefined) {
      await this.redis.client.del(this.pausedStreamKey(stream));
      this.logger.log({ stream }, 'sending of stream resumed');
      return;
    }
    if (domain === undefined) {
      await this.redis.client.del(this.pausedAllKey());
      this.logger.log('all sending resumed');
      return;
    }
    const d = domainKey(domain);
    await RESUME.run(
      this.redis.client,
      [this.factorKey(d), this.pausedKey(d), this.indexKey()],
      [d],
    );
    this.logger.log({ domain: d }, 'sending to domain resumed');
  }

  /** Without a domain: is all sending paused. With one: the domain's own pause flag. */
  async isPaused(domain?: string): Promise<boolean> {
    const key = domain === undefined ? this.pausedAllKey() : this.pausedKey(domainKey(domain));
    return (await this.redis.client.exists(key)) === 1;
  }

  /** The streams whose sending is paused. */
  async pausedStreams(): Promise<Stream[]> {
    const flags = await this.exec(
      STREAMS.reduce((p, s) => p.exists(this.pausedStreamKey(s)), this.redis.client.pipeline()),
    );
    return STREAMS.filter((_, i) => flags[i] === 1);
  }

  /** Every domain whose factor is below 1 or that is paused, by name; paused streams. */
  async list(): Promise<{
    domains: DomainRateState[];
    paused_all: boolean;
    paused_streams: Stream[];
  }> {
    const [members, pausedAll, ...streamFlags] = await this.exec(
      STREAMS.reduce(
        (p, s) => p.exists(this.pausedStreamKey(s)),
        this.redis.client.pipeline().smembers(this.indexKey()).exists(this.pausedAllKey()),
      ),
    );
    const names = (members as string[]).sort();
    const pipeline = this.redis.client.pipeline();
    for (const d of names) {
      pipeline.get(this.factorKey(d)).pttl(this.factorKey(d)).exists(this.pausedKey(d));
    }
    const replies = names.length > 0 ? await this.exec(pipeline) : [];

    const domains: DomainRateState[] = [];
    const idle: string[] = [];
    names.forEach((d, i) => {
      const [factor, pttl, paused] = replies.slice(i * 3, i * 3 + 3);
      const state = this.state(d, factor as string | null, pttl as number, paused === 1);
      if (state.paused || state.factor < 1) domains.push(state);
      if (factor === null && paused !== 1) idle.push(d);
    });
    // Entries whose factor expired; the script re-checks, so a concurrent reduce survives.
    await Promise.all(
      idle.map((d) =>
        UNINDEX.run(
          this.redis.client,
          [this.factorKey(d), this.pausedKey(d), this.indexKey()],
          [d],
        ),
      ),
    );
    return {
      domains,
      paused_all: pausedAll === 1,
      paused_streams: STREAMS.filter((_, i) => streamFlags[i] === 1),
    };
  }

  /** The configured messages/s for a domain: its override, else DOMAIN_RATE_DEFAULT. */
  private baseRate(domain: string): number {
    const override = this.config.domainRate.overrides.get(domain);
    return override !== undefined && Number.isFinite(override) && override > 0
      ? override
      : this.config.domainRate.defaultPerSec;
  }

  private state(
    domain: string,
    rawFactor: string | null,
    pttlMs: number,
    paused: boolean,
  ): DomainRateState {
    const factor = parseFactor(rawFactor);
    return {
      domain,
      factor,
      rate_per_sec: Math.round(this.baseRate(domain) * factor * 1000) / 1000,
      expires_at:
        rawFactor !== null && pttlMs > 0 ? new Date(Date.now() + pttlMs).toISOString() : null,
      paused,
    };
  }

  private async exec(pipeline: ReturnType<RedisService['client']['pipeline']>): Promise<unknown[]> {
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  private indexKey(): string {
    return this.redis.key('rate-control', 'domains');
  }

  private pausedAllKey(): string {
    return this.redis.key('rate-control', 'paused-all');
  }

  private pausedStreamKey(stream: Stream): string {
    return this.redis.key('rate-control', 'paused-stream', stream);
  }

  private pausedKey(domain: string): string {
    return this.redis.key('rate-control', 'paused', domain);
  }

  private factorKey(domain: string): string {
    return this.redis.key('rate-control', 'factor', domain);
  }

  private bucketKey(domain: string): string {
    return this.redis.key('rate-control', 'bucket', domain);
  }
}

/** The lower-cased domain as it appears in keys; an empty one is a caller's bug. */
function domainKey(domain: string): string {
  const d = normalizeDomain(domain);
  if (d === '') throw new RangeError('domain must not be empty');
  return d;
}
