import type { INestApplicationContext } from '@nestjs/common';
import type { Worker } from 'bullmq';
import type Redis from 'ioredis';
import { loadConfig } from 'src/config/app-config';
import { createWorkerContext } from 'src/create-app';
import {
  formatApiLoad,
  parseApiLoad,
  thisProcessSource,
} from 'src/infra/adaptive-concurrency/adaptive-concurrency';
import { AdaptiveConcurrencyModule } from 'src/infra/adaptive-concurrency/adaptive-concurrency.module';
import { ApiLoadPublisher } from 'src/infra/adaptive-concurrency/api-load.publisher';
import { WorkerConcurrencyGovernor } from 'src/infra/adaptive-concurrency/worker-concurrency.governor';
import { Clock } from 'src/infra/clock/clock';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import { RedisService } from 'src/infra/redis/redis.service';
import { EmailDeliveryProcessor } from 'src/modules/emails/email-delivery.processor';
import { EventWebhooksProcessor } from 'src/modules/event-webhooks/event-webhooks.processor';
import { WebhooksProcessor } from 'src/modules/webhooks/webhooks.processor';
import { bootTestApp, clearRedisPrefix, TestApp, testEnv } from 'test/utils/test-app';

/** Keeps this event loop busy (no callback can run) for `ms`. */
function busyFor(ms: number): void {
  for (const end = performance.now() + ms; performance.now() < end;) {
    // Busy: the loop is never idle meanwhile.
  }
}

/**
 * Adaptive concurrency (README "Processes, roles and scaling out"): an `api` process publishes
 * its event-loop load to Redis; a `worker` process (here a second application in this jest
 * process, with the same database and Redis prefix) sets its real BullMQ workers' concurrency
 * from the other processes' readings. The ticks are called directly; the worker's clock is
 * held, and each reading moves the concurrency once whoever ticks, so the apps' own timers
 * cannot change the outcome.
 */
describe('adaptive concurrency', () => {
  let api: TestApp;
  let worker: INestApplicationContext;
  let prefix: string;
  let key: string;
  let apiClosed = false;

  const bootWorker = async (env: Record<string, string>): Promise<INestApplicationContext> => {
    const config = loadConfig(testEnv(api.db, prefix, { APP_ROLES: 'worker', ...env }));
    const ctx = await createWorkerContext(config);
    await ctx.init();
    return ctx;
  };

  beforeAll(async () => {
    api = await bootTestApp({ APP_ROLES: 'api' });
    prefix = api.config.redisKeyPrefix;
    key = `${prefix}:api-load`;
    worker = await bootWorker({ WORKER_CONCURRENCY: '40', WEBHOOK_WORKER_CONCURRENCY: '20' });
  });
  afterAll(async () => {
    await worker?.close();
    if (!apiClosed) await api?.app.close();
    await clearRedisPrefix(prefix);
    await api?.db.drop();
  });

  describe('the api role', () => {
    it('publishes the event-loop utilization of its last interval under <prefix>:api-load', async () => {
      const publisher = api.app.get(ApiLoadPublisher);
      const redis = api.app.get(RedisService).client;
      // Both measurements inside one synchronous stretch: nothing else runs in between.
      const before = publisher.tick();
      busyFor(200);
      const busy = publisher.tick();
      await before;
      const reading = await busy;
      expect(reading.source).toBe(thisProcessSource());
      expect(reading.utilization).toBeGreaterThan(0.9);

      // The app's own timer publishes too (a later reading may have replaced this one).
      const stored = parseApiLoad(
        reading.source,
        (await redis.hget(key, thisProcessSource())) ?? '',
      );
      expect(stored).toEqual({
        source: thisProcessSource(),
        utilization: expect.any(Number),
        measuredAt: expect.any(Number),
      });
      expect(stored!.utilization).toBeGreaterThanOrEqual(0);
      expect(stored!.utilization).toBeLessThanOrEqual(1);
      expect(stored!.measuredAt).toBeGreaterThanOrEqual(reading.measuredAt);
      // The hash goes away a minute after the last API process stopped publishing.
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    });
  });

  describe('the worker role', () => {
    const T = 1_800_000_000_000;
    let now = T;
    let governor: WorkerConcurrencyGovernor;
    let redis: Redis;
    let bull: { delivery: Worker; webhooks: Worker; eventWebhooks: Worker };

    const concurrencies = () => ({
      delivery: bull.delivery.concurrency,
      webhooks: bull.webhooks.concurrency,
      eventWebhooks: bull.eventWebhooks.concurrency,
    });
    /** Another API process's reading, as its ApiLoadPublisher writes it. */
    const otherApi = (utilization: number, measuredAt: number) =>
      redis.hset(key, 'api-host-2:4242', formatApiLoad({ utilization, measuredAt }));

    beforeAll(() => {
      governor = worker.get(WorkerConcurrencyGovernor);
      // The reads and the writes below share one connection, so they reach Redis in order.
      redis = worker.get(RedisService).client;
      jest
        .spyOn(worker.select(AdaptiveConcurrencyModule).get(Clock, { strict: true }), 'now')
        .mockImplementation(() => new Date(now));
      bull = {
        delivery: worker.get(EmailDeliveryProcessor).worker,
        webhooks: worker.get(WebhooksProcessor).worker,
        eventWebhooks: worker.get(EventWebhooksProcessor).worker,
      };
    });

    it('runs the configured concurrency while no other process publishes (its own process is ignored)', async () => {
      // The API app runs in this process: a busy reading of this process counts for nothing.
      await redis.hset(key, thisProcessSource(), formatApiLoad({ utilization: 1, measuredAt: T }));
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 40, webhooks: 20, eventWebhooks: 20 });
    });

    it('halves the real BullMQ workers on each busy reading, and moves once per reading', async () => {
      await otherApi(0.95, T);
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 20, webhooks: 10, eventWebhooks: 10 });

      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 20, webhooks: 10, eventWebhooks: 10 });

      now = T + 500;
      await otherApi(0.95, T + 500);
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 10, webhooks: 5, eventWebhooks: 5 });

      const metrics = await worker.get(MetricsService).registry.metrics();
      expect(metrics).toContain('worker_queue_concurrency{queue="email-delivery"} 10');
      expect(metrics).toContain('worker_queue_concurrency{queue="webhooks"} 5');
      expect(metrics).toContain('worker_queue_concurrency{queue="event-webhooks"} 5');
      expect(metrics).toContain('worker_api_event_loop_utilization 0.95');
    });

    it('doubles back on a quiet reading, and gives everything back once the API is idle', async () => {
      now = T + 1000;
      await otherApi(0.3, T + 1000);
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 20, webhooks: 10, eventWebhooks: 10 });

      now = T + 1200;
      await otherApi(0.2, T + 1200);
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 40, webhooks: 20, eventWebhooks: 20 });
    });

    it('runs the configured concurrency when Redis does not answer', async () => {
      const hgetall = jest.spyOn(redis, 'hgetall').mockRejectedValue(new Error('Connection lost'));
      try {
        await governor.tick();
      } finally {
        hgetall.mockRestore();
      }
      expect(concurrencies()).toEqual({ delivery: 40, webhooks: 20, eventWebhooks: 20 });
      const metrics = await worker.get(MetricsService).registry.metrics();
      expect(metrics).toContain('worker_api_event_loop_utilization -1');
    });

    it('runs the configured concurrency once the readings are stale (the API stopped)', async () => {
      now = T + 1500;
      await otherApi(0.99, T + 1500);
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 20, webhooks: 10, eventWebhooks: 10 });

      now = T + 3001;
      await governor.tick();
      expect(concurrencies()).toEqual({ delivery: 40, webhooks: 20, eventWebhooks: 20 });
    });

    it('keeps the configured concurrency with WORKER_ADAPTIVE_CONCURRENCY=false', async () => {
      const fixed = await bootWorker({
        WORKER_CONCURRENCY: '40',
        WORKER_ADAPTIVE_CONCURRENCY: 'false',
      });
      try {
        jest
          .spyOn(fixed.select(AdaptiveConcurrencyModule).get(Clock, { strict: true }), 'now')
          .mockImplementation(() => new Date(now));
        await otherApi(0.99, now);
        await fixed.get(WorkerConcurrencyGovernor).tick();
        expect(fixed.get(EmailDeliveryProcessor).worker.concurrency).toBe(40);
      } finally {
        await fixed.close();
      }
    });
  });

  it('an API process takes its reading away when it stops', async () => {
    const redis = worker.get(RedisService).client;
    await api.app.close();
    apiClosed = true;
    expect(await redis.hexists(key, thisProcessSource())).toBe(0);
  });
});
