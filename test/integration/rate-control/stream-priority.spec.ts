import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { loadConfig } from 'src/config/app-config';
import { EmailDeliveryJob, QueueName } from 'src/infra/queue/queue.constants';
import { RedisService } from 'src/infra/redis/redis.service';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { testRedisPrefix } from 'test/utils/test-db';

jest.setTimeout(30_000);

/**
 * Transactional mail never waits behind broadcast (README "Streams"), shown without timing:
 * the order in which BullMQ hands out jobs, and which lane gets a token the bucket holds.
 */
describe('transactional first', () => {
  const prefix = testRedisPrefix();
  let redis: RedisService;
  let rates: RateControlService;
  let raw: Redis;

  beforeAll(async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      LOG_LEVEL: 'silent',
      DOMAIN_RATE_OVERRIDES: 'slow.example=1',
    });
    redis = new RedisService(config);
    await redis.onModuleInit();
    rates = new RateControlService(redis, config);
    raw = new Redis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    raw.disconnect();
    await redis.onApplicationShutdown();
    await clearRedisPrefix(prefix);
  });

  describe(EmailDeliveryProducer.name, () => {
    it('has a transactional job dequeued before every broadcast job queued earlier', async () => {
      const queue = new Queue(QueueName.EmailDelivery, {
        connection: { url: TEST_REDIS_URL },
        prefix: `${prefix}:bull-order`,
      });
      const producer = new EmailDeliveryProducer(queue);
      const broadcast = Array.from({ length: 5 }, (_, i) => ({
        messageId: `b${i}`,
        sendAt: null,
        domain: 'slow.example',
        stream: 'broadcast' as const,
      }));
      await expect(producer.enqueue(broadcast)).resolves.toBe(5);
      await expect(
        producer.enqueue([
          { messageId: 't0', sendAt: null, domain: 'slow.example', stream: 'transactional' },
        ]),
      ).resolves.toBe(1);

      const order: string[] = [];
      const done = new Promise<void>((resolve) => {
        const worker = new Worker(
          QueueName.EmailDelivery,
          async (job) => {
            expect(job.name).toBe(EmailDeliveryJob.Deliver);
            order.push((job.data as { messageId: string }).messageId);
            if (order.length === 6) setImmediate(() => void worker.close().then(resolve));
          },
          { connection: { url: TEST_REDIS_URL }, prefix: `${prefix}:bull-order`, concurrency: 1 },
        );
      });
      await done;
      await queue.close();
      expect(order[0]).toBe('t0');
      expect(order.slice(1)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    });
  });

  describe(RateControlService.name, () => {
    const bucket = () => `${prefix}:rate-control:bucket:slow.example`;
    /** Puts one whole token in the domain's bucket (as a refill would), now by Redis' clock. */
    const refillOne = async () => {
      const [s, us] = await raw.time();
      await raw.hset(bucket(), 'tokens', '1', 'ts', `${Number(s) * 1e6 + Number(us)}`);
    };

    it('gives the next token to a waiting transactional message, not to broadcast', async () => {
      // Broadcast drains the bucket (1 message/s) …
      await expect(
        rates.acquire('slow.example', { stream: 'broadcast', messageId: 'b1' }),
      ).resolves.toEqual({ granted: true });
      // … a transactional message finds it empty and is recorded as waiting …
      const waiting = await rates.acquire('slow.example', {
        stream: 'transactional',
        messageId: 't1',
      });
      expect(waiting).toMatchObject({ granted: false, reason: 'rate' });
      // … so when a token is there, broadcast does not get it, and transactional does.
      await refillOne();
      await expect(
        rates.acquire('slow.example', { stream: 'broadcast', messageId: 'b2' }),
      ).resolves.toMatchObject({ granted: false, reason: 'rate' });
      await expect(
        rates.acquire('slow.example', { stream: 'transactional', messageId: 't1' }),
      ).resolves.toEqual({ granted: true });
      // Nobody waits any more: broadcast takes the next token.
      await refillOne();
      await expect(
        rates.acquire('slow.example', { stream: 'broadcast', messageId: 'b2' }),
      ).resolves.toEqual({ granted: true });
    });

    it('spreads a broadcast backlog over its lane at the domain rate', async () => {
      await raw.del(bucket());
      await rates.acquire('slow.example', { stream: 'broadcast', messageId: 'first' });
      const slots: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await rates.acquire('slow.example', { stream: 'broadcast', messageId: `q${i}` });
        expect(r).toMatchObject({ granted: false, reason: 'rate' });
        slots.push(Number(await raw.get(`${prefix}:rate-control:broadcast-slot:slow.example`)));
      }
      // Each refused message gets the next slot of the lane, 1/rate (1 s = 10⁶ µs) after the
      // last one handed out, rather than all asking again at once.
      for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(1_000_000);
    });

    it('pauses one stream: its messages wait, the other stream gets tokens', async () => {
      await raw.del(bucket());
      await rates.pause(undefined, 'broadcast');
      await expect(rates.pausedStreams()).resolves.toEqual(['broadcast']);
      await expect(
        rates.acquire('other.example', { stream: 'broadcast', messageId: 'p1' }),
      ).resolves.toMatchObject({ granted: false, reason: 'paused' });
      await expect(
        rates.acquire('other.example', { stream: 'transactional', messageId: 'p2' }),
      ).resolves.toEqual({ granted: true });
      await expect(rates.list()).resolves.toMatchObject({ paused_streams: ['broadcast'] });
      await rates.resume(undefined, 'broadcast');
      await expect(
        rates.acquire('other.example', { stream: 'broadcast', messageId: 'p1' }),
      ).resolves.toEqual({ granted: true });
    });
  });
});
