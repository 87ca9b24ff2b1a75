import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { isUnavailableError } from 'src/common/errors/unavailable';
import { loadConfig } from 'src/config/app-config';
import { RedisService } from 'src/infra/redis/redis.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { testRedisPrefix } from 'test/utils/test-db';

jest.setTimeout(30_000);

/** A RedisService + RateControlService pair, as one worker process would have. */
async function makeProcess(
  prefix: string,
  env: Record<string, string> = {},
): Promise<{ redis: RedisService; rates: RateControlService }> {
  const config = loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const redis = new RedisService(config);
  await redis.onModuleInit();
  return { redis, rates: new RateControlService(redis, config) };
}

/** Fires `n` acquires at once (one pipelined burst) and counts the grants. */
async function burst(rates: RateControlService, domain: string, n: number): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, () => rates.acquire(domain)));
  return results.filter((r) => r.granted).length;
}

/** Acquires in a loop for `ms`, sleeping as told when refused; returns the grants. */
async function grantsDuring(
  rates: RateControlService,
  domain: string,
  ms: number,
): Promise<number> {
  const end = Date.now() + ms;
  let granted = 0;
  while (Date.now() < end) {
    const r = await rates.acquire(domain);
    if (r.granted) granted++;
    else await sleep(Math.min(r.retryAfterMs, Math.max(1, end - Date.now())));
  }
  return granted;
}

/** Empties the bucket so what follows measures the refill alone. */
async function drain(rates: RateControlService, domain: string): Promise<void> {
  for (;;) {
    const r = await rates.acquire(domain);
    if (!r.granted) return;
  }
}

let seq = 0;
const uniqueDomain = (): string => `d${++seq}-${Date.now().toString(36)}.example`;

describe(RateControlService.name, () => {
  const prefix = testRedisPrefix();
  let redis: RedisService;
  let rates: RateControlService;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    ({ redis, rates } = await makeProcess(prefix, {
      // A low default rate so exact burst counts hold on a loaded machine (a token every 250 ms).
      DOMAIN_RATE_DEFAULT: '4',
      DOMAIN_RATE_OVERRIDES: 'slow.example=5,fast.example=50',
    }));
  });
  afterAll(async () => {
    await redis.onApplicationShutdown();
    await clearRedisPrefix(prefix);
  });

  describe('acquire', () => {
    it('grants exactly the capacity (one second of the rate) at once, then refuses', async () => {
      const domain = uniqueDomain();
      await expect(burst(rates, domain, 10)).resolves.toBe(4);
    });

    it('refuses with reason rate and the wait until the next token', async () => {
      const domain = 'slow.example';
      await expect(burst(rates, domain, 5)).resolves.toBe(5);
      const refused = await rates.acquire(domain);
      expect(refused).toEqual({ granted: false, reason: 'rate', retryAfterMs: expect.any(Number) });
      if (refused.granted) throw new Error('unreachable');
      // One token at 5/s takes 200 ms.
      expect(refused.retryAfterMs).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(200);
      await sleep(refused.retryAfterMs + 20);
      await expect(rates.acquire(domain)).resolves.toEqual({ granted: true });
    });

    it('refills at the configured rate (50/s over 2 s, within 20 %)', async () => {
      const domain = 'fast.example';
      const first = await burst(rates, domain, 60);
      // 50 at once; a busy machine may let the next token arrive during the burst.
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThan(55);
      await drain(rates, domain);
      const granted = await grantsDuring(rates, domain, 2000);
      expect(granted).toBeGreaterThanOrEqual(80);
      expect(granted).toBeLessThanOrEqual(120);
    });

    it('refills at rate × factor once the rate is reduced', async () => {
      const domain = 'FAST.example';
      await rates.reduceRate(domain);
      try {
        // Capacity shrinks with the rate: 25 tokens now, not 50.
        expect(await burst(rates, domain, 60)).toBeLessThan(35);
        await drain(rates, domain);
        const granted = await grantsDuring(rates, domain, 2000);
        expect(granted).toBeGreaterThanOrEqual(40);
        expect(granted).toBeLessThanOrEqual(60);
      } finally {
        await rates.resetRate(domain);
      }
    });

    it('treats the domain case-insensitively (one bucket)', async () => {
      const domain = uniqueDomain();
      await expect(burst(rates, domain, 3)).resolves.toBe(3);
      await expect(burst(rates, domain.toUpperCase(), 5)).resolves.toBe(1);
    });

    it('uses the override for a domain that has one', async () => {
      await rates.resetRate('slow.example');
      await expect(burst(rates, 'Slow.Example', 8)).resolves.toBe(5);
    });

    it('keeps the bucket hash only a little longer than a refill', async () => {
      const domain = uniqueDomain();
      await rates.acquire(domain);
      const ttl = await redis.client.pttl(redis.key('rate-control', 'bucket', domain));
      expect(ttl).toBeGreaterThan(1000);
      expect(ttl).toBeLessThanOrEqual(2000);
      // A reduced rate below 1/s (4 × 0.125 = 0.5/s) refills one token in 2 s.
      const slow = uniqueDomain();
      await rates.reduceRate(slow, 0.125);
      await rates.acquire(slow);
      const slowTtl = await redis.client.pttl(redis.key('rate-control', 'bucket', slow));
      expect(slowTtl).toBeGreaterThan(2000);
      expect(slowTtl).toBeLessThanOrEqual(3000);
    });

    it('keeps two processes sharing a bucket within the rate together', async () => {
      const env = { DOMAIN_RATE_DEFAULT: '50', DOMAIN_RATE_OVERRIDES: 'shared.example=5' };
      const other = await makeProcess(prefix, env);
      const mine = await makeProcess(prefix, env);
      try {
        const [a, b] = await Promise.all([
          burst(mine.rates, 'shared.example', 8),
          burst(other.rates, 'shared.example', 8),
        ]);
        expect(a + b).toBe(5);

        const domain = uniqueDomain();
        await drain(mine.rates, domain);
        const [x, y] = await Promise.all([
          grantsDuring(mine.rates, domain, 2000),
          grantsDuring(other.rates, domain, 2000),
        ]);
        expect(x).toBeGreaterThan(0);
        expect(y).toBeGreaterThan(0);
        expect(x + y).toBeGreaterThanOrEqual(80);
        expect(x + y).toBeLessThanOrEqual(120);
      } finally {
        await other.redis.onApplicationShutdown();
        await mine.redis.onApplicationShutdown();
      }
    });

    it('rejects an empty domain rather than sharing one bucket among bad callers', async () => {
      await expect(rates.acquire('  ')).rejects.toThrow(RangeError);
      await expect(rates.pause('')).rejects.toThrow(RangeError);
      await expect(rates.isPaused()).resolves.toBe(false);
    });

    it('throws when Redis is unavailable instead of granting', async () => {
      const down = await makeProcess(prefix);
      down.redis.client.disconnect();
      const err: unknown = await down.rates.acquire('example.com').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      // The API would answer 503 for it; the worker retries the job later.
      expect(isUnavailableError(err)).toBe(true);
    });
  });

  describe('reduceRate', () => {
    it('halves the factor each time down to the 0.1 floor', async () => {
      const domain = uniqueDomain();
      const factors: number[] = [];
      for (let i = 0; i < 5; i++) factors.push(await rates.reduceRate(domain));
      expect(factors).toEqual([0.5, 0.25, 0.125, 0.1, 0.1]);
      await expect(rates.getRate(domain)).resolves.toEqual(
        expect.objectContaining({ factor: 0.1, rate_per_sec: 0.4 }),
      );
    });

    it('applies a custom factor', async () => {
      const domain = uniqueDomain();
      await expect(rates.reduceRate(domain, 0.8)).resolves.toBe(0.8);
      await expect(rates.reduceRate(domain, 0.8)).resolves.toBe(0.64);
    });

    it('sets the TTL to an hour by default and restarts it on each reduction', async () => {
      const domain = uniqueDomain();
      const key = redis.key('rate-control', 'factor', domain);
      await rates.reduceRate(domain, 0.5, 60);
      expect(await redis.client.pttl(key)).toBeLessThanOrEqual(60_000);
      await rates.reduceRate(domain);
      const ttl = await redis.client.pttl(key);
      expect(ttl).toBeGreaterThan(3_590_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);

      const state = await rates.getRate(domain);
      expect(state).toEqual({
        domain,
        factor: 0.25,
        rate_per_sec: 1,
        expires_at: expect.any(String),
        paused: false,
      });
      const expiresIn = Date.parse(state.expires_at ?? '') - Date.now();
      expect(expiresIn).toBeGreaterThan(3_580_000);
      expect(expiresIn).toBeLessThanOrEqual(3_600_000);
    });

    it('lets the factor lapse back to 1 when the TTL runs out', async () => {
      const domain = uniqueDomain();
      await rates.reduceRate(domain, 0.5, 0.2);
      await sleep(300);
      await expect(rates.getRate(domain)).resolves.toEqual({
        domain,
        factor: 1,
        rate_per_sec: 4,
        expires_at: null,
        paused: false,
      });
    });

    it.each([
      [0, 10],
      [1.5, 10],
      [Number.NaN, 10],
      [0.5, 0],
      [0.5, -1],
    ])('rejects factor %d for %d s', async (factor, durationS) => {
      await expect(rates.reduceRate(uniqueDomain(), factor, durationS)).rejects.toThrow(RangeError);
    });
  });

  describe('getRate', () => {
    it('reports the configured rate and factor 1 for an untouched domain', async () => {
      await expect(rates.getRate('Slow.Example')).resolves.toEqual({
        domain: 'slow.example',
        factor: 1,
        rate_per_sec: 5,
        expires_at: null,
        paused: false,
      });
    });
  });

  describe('resetRate', () => {
    it('restores factor 1 and a full bucket', async () => {
      const domain = uniqueDomain();
      await rates.reduceRate(domain);
      await rates.reduceRate(domain);
      await drain(rates, domain);
      await rates.resetRate(domain);
      await expect(rates.getRate(domain)).resolves.toEqual(
        expect.objectContaining({ factor: 1, rate_per_sec: 4, expires_at: null }),
      );
      await expect(burst(rates, domain, 10)).resolves.toBe(4);
    });

    it('leaves a pause in place', async () => {
      const domain = uniqueDomain();
      await rates.pause(domain);
      await rates.resetRate(domain);
      await expect(rates.isPaused(domain)).resolves.toBe(true);
      await rates.resume(domain);
    });
  });

  describe('pause / resume', () => {
    it('pauses one domain without touching others', async () => {
      const domain = uniqueDomain();
      const other = uniqueDomain();
      await rates.pause(domain.toUpperCase());
      await expect(rates.isPaused(domain)).resolves.toBe(true);
      await expect(rates.acquire(domain)).resolves.toEqual({
        granted: false,
        retryAfterMs: 5000,
        reason: 'paused',
      });
      await expect(rates.acquire(other)).resolves.toEqual({ granted: true });

      await rates.resume(domain);
      await expect(rates.isPaused(domain)).resolves.toBe(false);
      await expect(rates.acquire(domain)).resolves.toEqual({ granted: true });
    });

    it('does not take tokens while paused', async () => {
      const domain = uniqueDomain();
      await rates.pause(domain);
      await burst(rates, domain, 10);
      await rates.resume(domain);
      await expect(burst(rates, domain, 10)).resolves.toBe(4);
    });

    it('pauses and resumes all sending, keeping domain pauses', async () => {
      const paused = uniqueDomain();
      const free = uniqueDomain();
      await rates.pause(paused);
      await rates.pause();
      try {
        await expect(rates.isPaused()).resolves.toBe(true);
        await expect(rates.acquire(free)).resolves.toEqual({
          granted: false,
          retryAfterMs: 5000,
          reason: 'paused',
        });
      } finally {
        await rates.resume();
      }
      await expect(rates.isPaused()).resolves.toBe(false);
      await expect(rates.acquire(free)).resolves.toEqual({ granted: true });
      await expect(rates.acquire(paused)).resolves.toEqual(
        expect.objectContaining({ granted: false, reason: 'paused' }),
      );
      await rates.resume(paused);
    });

    it('is seen by another process at once', async () => {
      const other = await makeProcess(prefix);
      try {
        const domain = uniqueDomain();
        await rates.pause(domain);
        await expect(other.rates.acquire(domain)).resolves.toEqual(
          expect.objectContaining({ reason: 'paused' }),
        );
        await rates.resume(domain);
        await expect(other.rates.acquire(domain)).resolves.toEqual({ granted: true });
      } finally {
        await other.redis.onApplicationShutdown();
      }
    });
  });

  describe('list', () => {
    it('lists reduced and paused domains only, and drops lapsed ones from the index', async () => {
      // A prefix of its own so other tests' domains don't show up.
      const ownPrefix = testRedisPrefix();
      const own = await makeProcess(ownPrefix);
      const r = own.rates;
      try {
        await r.acquire('untouched.example');
        await r.reduceRate('reduced.example');
        await r.pause('Paused.example');
        await r.reduceRate('lapsing.example', 0.5, 0.2);
        await r.reduceRate('reset.example');
        await r.resetRate('reset.example');
        await r.pause('resumed.example');
        await r.resume('resumed.example');

        const before = await r.list();
        expect(before.paused_all).toBe(false);
        expect(before.domains.map((d) => d.domain)).toEqual([
          'lapsing.example',
          'paused.example',
          'reduced.example',
        ]);
        expect(before.domains.find((d) => d.domain === 'paused.example')).toEqual({
          domain: 'paused.example',
          factor: 1,
          rate_per_sec: 20,
          expires_at: null,
          paused: true,
        });
        expect(before.domains.find((d) => d.domain === 'reduced.example')).toEqual({
          domain: 'reduced.example',
          factor: 0.5,
          rate_per_sec: 10,
          expires_at: expect.any(String),
          paused: false,
        });

        await sleep(300);
        await r.pause();
        const after = await r.list();
        expect(after.paused_all).toBe(true);
        expect(after.domains.map((d) => d.domain)).toEqual(['paused.example', 'reduced.example']);
        await expect(
          own.redis.client.smembers(own.redis.key('rate-control', 'domains')),
        ).resolves.toEqual(expect.arrayContaining(['paused.example', 'reduced.example']));
        await expect(
          own.redis.client.scard(own.redis.key('rate-control', 'domains')),
        ).resolves.toBe(2);
      } finally {
        await own.redis.onApplicationShutdown();
        await clearRedisPrefix(ownPrefix);
      }
    });

    it('answers an empty list when nothing is reduced or paused', async () => {
      const own = await makeProcess(testRedisPrefix());
      try {
        await expect(own.rates.list()).resolves.toEqual({
          domains: [],
          paused_all: false,
          paused_streams: [],
        });
      } finally {
        await own.redis.onApplicationShutdown();
      }
    });
  });
});
