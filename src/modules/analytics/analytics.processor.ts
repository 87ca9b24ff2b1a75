import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job, UnrecoverableError } from 'bullmq';
import { AnalyticsJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import { AiDiagnosisService } from 'src/modules/diagnostics/ai-diagnosis.service';
import { AnomalyDetectorService } from 'src/modules/diagnostics/anomaly-detector.service';

type AnalyticsQueueJob = Job<JobPayloads[AnalyticsJob], unknown, AnalyticsJob>;

/**
 * Worker of the low-priority `analytics` queue: statistics, anomaly checks and AI diagnosis.
 * Other modules' maintenance runs in their own processors (docs/ARCHITECTURE.md "Queues and
 * jobs").
 */
@Processor(QueueName.Analytics, { concurrency: 2 })
export class AnalyticsProcessor extends WorkerHost {
  constructor(
    private readonly analytics: AnalyticsService,
    private readonly anomalies: AnomalyDetectorService,
    private readonly ai: AiDiagnosisService,
  ) {
    super();
  }

  async process(job: AnalyticsQueueJob): Promise<unknown> {
    switch (job.name) {
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
