import type { DefaultJobOptions } from 'bullmq';

/** Every BullMQ queue of the app (SPEC §6.5). */
export enum QueueName {
  EmailDelivery = 'email-delivery',
  Webhooks = 'webhooks',
  /** Low-priority work: statistics, anomaly checks, AI diagnosis, maintenance sweeps. */
  Analytics = 'analytics',
}

export enum EmailDeliveryJob {
  Deliver = 'EmailDeliver',
}

export enum WebhooksJob {
  Process = 'WebhookProcess',
}

export enum AnalyticsJob {
  HourlyStats = 'HourlyStats',
  DailyStats = 'DailyStats',
  AnomalyCheck = 'AnomalyCheck',
  AiDiagnosis = 'AiDiagnosis',
  RetryScheduled = 'RetryScheduled',
  OutboxSweep = 'OutboxSweep',
}

/** Job payloads carry ids, never rendered bodies or PII. */
export interface JobPayloads {
  [EmailDeliveryJob.Deliver]: { messageId: string };
  [WebhooksJob.Process]: { webhookEventId: string };
  [AnalyticsJob.HourlyStats]: { hour: string };
  [AnalyticsJob.DailyStats]: { day: string };
  [AnalyticsJob.AnomalyCheck]: { hour: string };
  [AnalyticsJob.AiDiagnosis]: { reportId: number };
  [AnalyticsJob.RetryScheduled]: { tick: string };
  [AnalyticsJob.OutboxSweep]: { tick: string };
}

const keepBounded = {
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50000 },
} satisfies DefaultJobOptions;

/** Default job options per queue; producers may override per job. */
export const QUEUE_DEFAULT_JOB_OPTIONS: Record<QueueName, DefaultJobOptions> = {
  // SPEC §6.3: 8 attempts, exponential from 30 s.
  [QueueName.EmailDelivery]: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 30000 },
    ...keepBounded,
  },
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
