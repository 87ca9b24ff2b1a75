import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job, UnrecoverableError } from 'bullmq';
import { AnalyticsJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import { AiDiagnosisService } from 'src/modules/diagnostics/ai-diagnosis.service';
import { AnomalyDetectorService } from 'src/modules/diagnostics/anomaly-detector.service';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { RetryService } from 'src/modules/emails/retry.service';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

type AnalyticsQueueJob = Job<JobPayloads[AnalyticsJob], unknown, AnalyticsJob>;

/** Worker of the low-priority `analytics` queue. */
@Processor(QueueName.Analytics, { concurrency: 2 })
export class AnalyticsProcessor extends WorkerHost {
  constructor(
    private readonly outbox: OutboxService,
    private readonly retries: RetryService,
    private readonly webhooks: WebhooksService,
    private readonly analytics: AnalyticsService,
    private readonly anomalies: AnomalyDetectorService,
    private readonly ai: AiDiagnosisService,
  ) {
    super();
  }

  async process(job: AnalyticsQueueJob): Promise<unknown> {
    switch (job.name) {
      case AnalyticsJob.OutboxSweep:
        return {
          enqueued: await this.outbox.sweep(),
          webhooks: await this.webhooks.sweepUnprocessed(),
        };
      case AnalyticsJob.RetryScheduled:
        return this.retries.requeueDue();
      case AnalyticsJob.HourlyStats: {
        const { hour } = job.data as JobPayloads[AnalyticsJob.HourlyStats];
        const aggregate = await this.analytics.aggregateHour(new Date(hour));
        const check = await this.anomalies.check(aggregate.global.hour, aggregate);
        return {
          hour,
          sent: aggregate.global.sent,
          domains: aggregate.domains.length,
          anomaly_check: check.outcome,
        };
      }
      case AnalyticsJob.DailyStats:
        return this.analytics.runDaily();
      case AnalyticsJob.AnomalyCheck: {
        const { hour } = job.data as JobPayloads[AnalyticsJob.AnomalyCheck];
        return this.anomalies.check(new Date(hour));
      }
      case AnalyticsJob.AiDiagnosis: {
        const { reportId, hour } = job.data as JobPayloads[AnalyticsJob.AiDiagnosis];
        return this.ai.run(reportId, hour);
      }
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }
}
