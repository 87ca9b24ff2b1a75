import type { DefaultJobOptions } from 'bullmq';
import type { AppConfig } from 'src/config/app-config';
import type { Stream } from 'src/common/streams';

/** Every BullMQ queue of the app (docs/ARCHITECTURE.md "Queues and jobs"). */
export enum QueueName {
  EmailDelivery = 'email-delivery',
  Webhooks = 'webhooks',
  /** Low-priority work: statistics, anomaly checks, AI diagnosis. */
  Analytics = 'analytics',
  /** The sending domains' daily DNS re-check (README "Sending domains"). */
  Domains = 'domains',
  /** Event webhooks to the customer's endpoints (README "Event webhooks"). */
  EventWebhooks = 'event-webhooks',
}

/**
 * Each queue's jobs run in its owner's processor (docs/ARCHITECTURE.md "Queues and jobs"),
 * maintenance ticks included: the emails worker sweeps the outbox and re-queues soft-bounce
 * retries, the webhooks worker re-queues unprocessed webhook events.
 */
export enum EmailDeliveryJob {
  Deliver = 'EmailDeliver',
  /** Enqueue `queued` messages that have no live job (README "How mail flows"). */
  OutboxSweep = 'OutboxSweep',
  /** Re-queue due soft-bounce retries. */
  RetryScheduled = 'RetryScheduled',
  /** Delete attachment content no delivery needs any more (README "Sending"). */
  PruneAttachments = 'PruneAttachments',
}

export enum WebhooksJob {
  Process = 'WebhookProcess',
  /** Queue stored webhook events that never got processed (Redis was down when they came). */
  SweepUnprocessed = 'WebhookSweep',
}

export enum AnalyticsJob {
  /** Aggregate one hour into hourly_stats. */
  HourlyStats = 'HourlyStats',
  /** Refresh campaign_stats and prune data past retention. */
  DailyStats = 'DailyStats',
  /** Check one stored hour against the anomaly thresholds (also run after HourlyStats). */
  AnomalyCheck = 'AnomalyCheck',
  /** Ask Claude about an `ai_triggered` report (README "Alerts"). */
  AiDiagnosis = 'AiDiagnosis',
}

export enum DomainsJob {
  /** Re-check every sending domain's DNS; alert on a record that broke. */
  DnsRecheck = 'DomainsDnsRecheck',
}

export enum EventWebhooksJob {
  /** Send one endpoint's due deliveries (one drain per endpoint at a time: a Redis lease). */
  Drain = 'EndpointDrain',
  /** Drain endpoints whose due deliveries have no job (Redis lost them, or was down). */
  Sweep = 'DeliveriesSweep',
  /** Delete events past EVENT_WEBHOOK_RETENTION_DAYS with their deliveries and attempts. */
  Prune = 'DeliveriesPrune',
}

/** Job payloads carry ids, never rendered bodies or PII. */
export interface JobPayloads {
  /**
   * `domain` (the recipient's) lets the worker take a rate-control token before any query;
   * `stream` picks the token bucket's lane (README "Streams"; absent: transactional).
   */
  [EmailDeliveryJob.Deliver]: { messageId: string; domain?: string; stream?: Stream };
  [EmailDeliveryJob.OutboxSweep]: { tick: string };
  [EmailDeliveryJob.RetryScheduled]: { tick: string };
  [EmailDeliveryJob.PruneAttachments]: { tick: string };
  [WebhooksJob.Process]: { webhookEventId: string };
  [WebhooksJob.SweepUnprocessed]: { tick: string };
  /** `hour`: ISO start of the hour to aggregate. */
  [AnalyticsJob.HourlyStats]: { hour: string };
  /** `day`: ISO start of the (UTC) day whose 03:00 tick enqueued it. */
  [AnalyticsJob.DailyStats]: { day: string };
  [AnalyticsJob.AnomalyCheck]: { hour: string };
  [AnalyticsJob.AiDiagnosis]: { reportId: number; hour: string };
  /** `day`: ISO start of the (UTC) day whose tick enqueued it. */
  [DomainsJob.DnsRecheck]: { day: string };
  [EventWebhooksJob.Drain]: { endpointId: string };
  [EventWebhooksJob.Sweep]: { tick: string };
  /** `day`: ISO start of the (UTC) day whose tick enqueued it. */
  [EventWebhooksJob.Prune]: { day: string };
}

const keepBounded = {
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50000 },
} satisfies DefaultJobOptions;

/**
 * A maintenance tick's options in its owner's queue: few attempts, a long backoff (the next
 * tick comes anyway), and removal like every job.
 */
export const MAINTENANCE_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60000 },
  ...keepBounded,
} satisfies DefaultJobOptions;

/** Default job options per queue; producers may override per job. */
export function defaultJobOptions(
  name: QueueName,
  config: Pick<AppConfig, 'delivery'>,
): DefaultJobOptions {
  if (name === QueueName.EmailDelivery) {
    // README "How mail flows", 3: 8 attempts, exponential from 30 s (configurable).
    return {
      attempts: config.delivery.maxAttempts,
      backoff: { type: 'exponential', delay: config.delivery.backoffMs },
      ...keepBounded,
    };
  }
  return OTHER_QUEUE_OPTIONS[name];
}

const OTHER_QUEUE_OPTIONS: Record<
  Exclude<QueueName, QueueName.EmailDelivery>,
  DefaultJobOptions
> = {
  [QueueName.Webhooks]: {
    attempts: 10,
    backoff: { type: 'exponential', delay: 5000 },
    ...keepBounded,
  },
  // A drain that throws (PostgreSQL down) is tried again soon; the sweep is the backstop.
  [QueueName.EventWebhooks]: {
    attempts: 5,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 600, count: 10000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10000 },
  },
  [QueueName.Analytics]: {
    attempts: 3,
    backoff: { type: 'exponential', delay: 60000 },
    priority: 10,
    ...keepBounded,
  },
  [QueueName.Domains]: MAINTENANCE_JOB_OPTIONS,
};

export const ALL_QUEUES: QueueName[] = Object.values(QueueName);

/**
 * A deterministic jobId for a scheduler tick, so replicas add the same job once. BullMQ
 * rejects `:` in custom ids, so the ISO time is compacted (20261128T0455).
 */
export function tickJobId(name: string, tick: Date): string {
  return `${name}-${tick.toISOString().replace(/[-:]|\.\d+Z$/g, '')}`;
}
