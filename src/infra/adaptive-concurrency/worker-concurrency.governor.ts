import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  ADAPTIVE_CONCURRENCY,
  AdaptiveConcurrency,
  type ApiLoadReading,
  parseApiLoad,
  thisProcessSource,
} from 'src/infra/adaptive-concurrency/adaptive-concurrency';
import { apiLoadKey } from 'src/infra/adaptive-concurrency/api-load.publisher';
import { Clock } from 'src/infra/clock/clock';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import type { QueueName } from 'src/infra/queue/queue.constants';
import { RedisService } from 'src/infra/redis/redis.service';

/** What the governor changes on a queue's BullMQ worker (its `concurrency` setter). */
export interface ConcurrencySetting {
  concurrency: number;
}

/** A reading this old belongs to a process that is gone: its field is deleted. */
const FORGET_AFTER_MS = 60_000;

/**
 * In processes with the `worker` role: every interval, reads the API processes' load that
 * ApiLoadPublisher writes and sets the concurrency of the queues' workers that processors
 * handed over with `manage` (README "Processes, roles and scaling out"). Its own process's
 * reading is ignored: a process that also serves the API would measure mostly its own jobs.
 * Without a fresh reading (no API process publishing, Redis unreachable) or with
 * WORKER_ADAPTIVE_CONCURRENCY=false, every queue runs its configured concurrency.
 */
@Injectable()
export class WorkerConcurrencyGovernor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerConcurrencyGovernor.name);
  private readonly adaptive: AdaptiveConcurrency;
  private readonly managed = new Map<
    QueueName,
    { worker: ConcurrencySetting; configured: number }
  >();
  private readonly source = thisProcessSource();
  private observed: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    metrics: MetricsService,
  ) {
    this.adaptive = new AdaptiveConcurrency(clock);
    if (!config.hasRole('worker')) return;
    const managed = this.managed;
    metrics.gauge(
      'worker_queue_concurrency',
      'Jobs this worker process runs at once per queue (lowered while the API is busy)',
      ['queue'],
      function collect() {
        for (const [queue, { worker }] of managed) this.set({ queue }, worker.concurrency);
      },
    );
    const observed = (): number | null => this.observed;
    metrics.gauge(
      'worker_api_event_loop_utilization',
      'Highest fresh event-loop utilization of the API processes that this worker adapts to (-1: none)',
      [],
      function collect() {
        this.set(observed() ?? -1);
      },
    );
  }

  /** Hands a queue's worker over: it runs `configured` jobs at once, less while the API is busy. */
  manage(queue: QueueName, worker: ConcurrencySetting, configured: number): void {
    this.managed.set(queue, { worker, configured });
    worker.concurrency = this.config.workerAdaptiveConcurrency
      ? this.adaptive.concurrency(configured)
      : configured;
  }

  onApplicationBootstrap(): void {
    if (this.config.hasRole('worker') && this.config.workerAdaptiveConcurrency) this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /**
   * One adjustment: read the API load, set every managed worker. Never rejects. The timer
   * calls it; tests call it directly.
   */
  async tick(): Promise<void> {
    if (!this.config.workerAdaptiveConcurrency) return;
    const readings = await this.readApiLoad();
    const load = this.adaptive.update(readings);
    this.observed = load;
    for (const [queue, { worker, configured }] of this.managed) {
      const next = this.adaptive.concurrency(configured);
      if (worker.concurrency === next) continue;
      this.logger.debug(
        `${queue}: concurrency ${worker.concurrency} → ${next} (API load ${load?.toFixed(2) ?? 'unknown'})`,
      );
      worker.concurrency = next;
    }
  }

  /** Other processes' fresh and stale readings; none when Redis does not answer. */
  private async readApiLoad(): Promise<ApiLoadReading[]> {
    const key = apiLoadKey(this.redis);
    let fields: Record<string, string>;
    try {
      fields = await this.redis.client.hgetall(key);
      this.failing = false;
    } catch (err) {
      if (!this.failing) {
        this.logger.debug(`API load unreadable, full concurrency: ${String(err)}`);
      }
      this.failing = true;
      return [];
    }
    const now = this.clock.now().getTime();
    const readings: ApiLoadReading[] = [];
    const forgotten: string[] = [];
    for (const [source, raw] of Object.entries(fields)) {
      if (source === this.source) continue;
      const reading = parseApiLoad(source, raw);
      if (reading && Math.abs(now - reading.measuredAt) <= FORGET_AFTER_MS) readings.push(reading);
      else forgotten.push(source);
    }
    if (forgotten.length > 0) {
      void this.redis.client.hdel(key, ...forgotten).catch(() => undefined);
    }
    return readings;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule();
      });
    }, ADAPTIVE_CONCURRENCY.intervalMs);
    this.timer.unref();
  }
}
