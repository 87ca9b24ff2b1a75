import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { withTimeout } from 'src/common/async/timeout';
import { ALL_QUEUES, QueueName } from 'src/infra/queue/queue.constants';

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  prioritized: number;
}

const TIMEOUT_MS = 1500;

/** Read-only view of the queues for health, metrics and the dashboard. */
@Injectable()
export class QueueMonitorService {
  private readonly queues: Map<QueueName, Queue>;

  constructor(
    @InjectQueue(QueueName.EmailDelivery) delivery: Queue,
    @InjectQueue(QueueName.Webhooks) webhooks: Queue,
    @InjectQueue(QueueName.Analytics) analytics: Queue,
    @InjectQueue(QueueName.Domains) domains: Queue,
    @InjectQueue(QueueName.EventWebhooks) eventWebhooks: Queue,
  ) {
    this.queues = new Map([
      [QueueName.EmailDelivery, delivery],
      [QueueName.Webhooks, webhooks],
      [QueueName.Analytics, analytics],
      [QueueName.Domains, domains],
      [QueueName.EventWebhooks, eventWebhooks],
    ]);
  }

  list(): Array<[QueueName, Queue]> {
    return [...this.queues.entries()];
  }

  async depth(name: QueueName): Promise<QueueDepth> {
    const queue = this.queues.get(name)!;
    const counts = await withTimeout(
      queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
      TIMEOUT_MS,
      `queue ${name} timed out after ${TIMEOUT_MS} ms`,
    );
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      prioritized: counts.prioritized ?? 0,
    };
  }

  /** Depth of every queue; throws if Redis does not answer in time. */
  async depths(): Promise<Record<QueueName, QueueDepth>> {
    const entries = await Promise.all(
      ALL_QUEUES.map(async (name) => [name, await this.depth(name)] as const),
    );
    return Object.fromEntries(entries) as Record<QueueName, QueueDepth>;
  }
}
