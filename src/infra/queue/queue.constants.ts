import type { DefaultJobOptions } from 'bullmq';
import type { AppConfig } from 'src/config/app-config';

/** Every BullMQ queue of the app (SPEC §6.5). */
export enum QueueName {
  EmailDelivery = 'email-delivery',
  Webhooks = 'webhooks',
  /** Low-priority work: maintenance sweeps (and statistics, anomaly checks, AI diagnosis). */
  Analytics = 'analytics',
}

export enum EmailDeliveryJob {
  Deliver = 'EmailDeliver',
}

export enum WebhooksJob {
  Process = 'WebhookProcess',
  /** Sandbox transport: synthesise the Postal events a real server would send (SPEC §8). */
  SandboxOutcome = 'SandboxOutcome',
}

export enum AnalyticsJob {
  OutboxSweep = 'OutboxSweep',
  RetryScheduled = 'RetryScheduled',
  /** Aggregate one hour into hourly_stats (SPEC §11). */
  HourlyStats = 'HourlyStats',
  /** Refresh campaign_stats and prune data past retention (SPEC §11). */
  DailyStats = 'DailyStats',
  /** Check one stored hour against the anomaly thresholds (also run after HourlyStats). */
  AnomalyCheck = 'AnomalyCheck',
  /** Ask Claude about an `ai_triggered` report (SPEC §11). */
  AiDiagnosis = 'AiDiagnosis',
}

/** Job payloads carry ids, never rendered bodies or PII. */
export interface JobPayloads {
  /** `domain` (the recipient's) lets the worker take a rate-control token before any query. */
  [EmailDeliveryJob.Deliver]: { messageId: string; domain?: string };
  [WebhooksJob.Process]: { webhookEventId: string };
  [WebhooksJob.SandboxOutcome]: { messageId: string };
  [AnalyticsJob.OutboxSweep]: { tick: string };
  [AnalyticsJob.RetryScheduled]: { tick: string };
  /** `hour`: ISO start of the hour to aggregate. */
  [AnalyticsJob.HourlyStats]: { hour: string };
  /** `day`: ISO start of the (UTC) day whose 03:00 tick enqueued it. */
  [AnalyticsJob.DailyStats]: { day: string };
  [AnalyticsJob.AnomalyCheck]: { hour: string };
  [AnalyticsJob.AiDiagnosis]: { reportId: number; hour: string };
}

const keepBounded = {
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50000 },
} satisfies DefaultJobOptions;

/** Default job options per queue; producers may override per job. */
export function defaultJobOptions(
  name: QueueName,
  config: Pick<AppConfig, 'delivery'>,
): DefaultJobOptions {
  if (name === QueueName.EmailDelivery) {
    // SPEC §6.3: 8 attempts, exponential from 30 s (configurable).
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
  [QueueName.Analytics]: {
    attempts: 3,
    backoff: { type: 'exponential', delay: 60000 },
    priority: 10,
    ...keepBounded,
  },
};

export const ALL_QUEUES: QueueName[] = Object.values(QueueName);

/**
 * A deterministic jobId for a scheduler tick, so replicas add the same job once. BullMQ
 * rejects `:` in custom ids, so the ISO time is compacted (20261128T0455).
 */
export function tickJobId(name: string, tick: Date): string {
  return `${name}-${tick.toISOString().replace(/[-:]|\.\d+Z$/g, '')}`;
}
