import cluster from 'node:cluster';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from 'src/config/app-config';
import { PeerMetrics } from 'src/infra/metrics/peer-metrics';
import { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';

/**
 * One Prometheus registry per application instance (tests boot several apps in a process).
 * Feature modules add their own counters through `counter()`/`gauge()`.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** In a child of the default start: its siblings' metrics too (peer-metrics.ts). */
  private readonly peers?: PeerMetrics;

  constructor(queues: QueueMonitorService, config: AppConfig) {
    if (cluster.isWorker && config.supervisorPid === process.ppid) {
      this.peers = new PeerMetrics(() => this.registry.getMetricsAsJSON());
    }
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    new Gauge({
      name: 'queue_jobs',
      help: 'BullMQ jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      // Every process reads the same Redis: aggregated, one reading rather than the sum.
      aggregator: 'first',
      async collect() {
        try {
          const depths = await queues.depths();
          for (const [queue, depth] of Object.entries(depths)) {
            for (const [state, n] of Object.entries(depth)) this.set({ queue, state }, n);
          }
        } catch {
          // Redis down: keep the last values; health reports the outage.
        }
      },
    });
  }

  /** The Prometheus text of GET /metrics. */
  scrape(): Promise<string> {
    return this.peers ? this.peers.scrape() : this.registry.metrics();
  }

  counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    collect?: (this: Gauge<L>) => Promise<void> | void,
  ): Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge({ name, help, labelNames, collect, registers: [this.registry] });
  }
}
