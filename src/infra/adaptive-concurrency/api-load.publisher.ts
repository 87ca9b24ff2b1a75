import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  ADAPTIVE_CONCURRENCY,
  type ApiLoadReading,
  formatApiLoad,
  thisProcessSource,
} from 'src/infra/adaptive-concurrency/adaptive-concurrency';
import { Clock } from 'src/infra/clock/clock';
import { RedisService } from 'src/infra/redis/redis.service';

/** The hash of readings, one field per API process (`<prefix>:api-load`). */
export const apiLoadKey = (redis: RedisService): string => redis.key('api-load');

/** The hash outlives its last publisher by this much, then Redis drops it. */
export const API_LOAD_KEY_TTL_MS = 60_000;

/**
 * In processes with the `api` role: every interval, this process's event-loop utilization
 * since the last one goes to `<prefix>:api-load` (field `<hostname>:<pid>`), for the workers'
 * WorkerConcurrencyGovernor (README "Processes, roles and scaling out"). Fire and forget: a
 * request never waits for it, and a Redis error only skips one reading.
 */
@Injectable()
export class ApiLoadPublisher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ApiLoadPublisher.name);
  private readonly source = thisProcessSource();
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private timer: NodeJS.Timeout | null = null;
  private publishing: Promise<unknown> | null = null;
  private failing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.hasRole('api') || !this.config.workerAdaptiveConcurrency) return;
    this.last = performance.eventLoopUtilization();
    this.timer = setInterval(() => void this.tick(), ADAPTIVE_CONCURRENCY.intervalMs);
    this.timer.unref();
  }

  /**
   * Measures the event loop since the previous tick and publishes it; answers the reading.
   * Never rejects. The timer calls it; tests call it directly.
   */
  async tick(): Promise<ApiLoadReading> {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    const reading = {
      source: this.source,
      utilization,
      measuredAt: this.clock.now().getTime(),
    };
    const published = (this.publishing = this.publish(reading));
    await published;
    if (this.publishing === published) this.publishing = null;
    return reading;
  }

  private async publish(reading: ApiLoadReading): Promise<void> {
    try {
      const key = apiLoadKey(this.redis);
      await this.redis.client
        .multi()
        .hset(key, this.source, formatApiLoad(reading))
        .pexpire(key, API_LOAD_KEY_TTL_MS)
        .exec();
      this.failing = false;
    } catch (err) {
      // Workers fall back to their configured concurrency; say so once per outage.
      if (!this.failing) this.logger.debug(`not publishing the API load: ${String(err)}`);
      this.failing = true;
    }
  }

  /** Before Redis closes: stop, and take this process's field away (workers stop reading it). */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    await this.publishing;
    await this.redis.client.hdel(apiLoadKey(this.redis), this.source).catch(() => undefined);
  }
}
