import { Command, CommandRunner, Option } from 'nest-commander';
import { AppConfig } from 'src/config/app-config';
import { AnomalyDetectorService } from 'src/modules/diagnostics/anomaly-detector.service';
import {
  AnalyticsService,
  previousHour,
  startOfHour,
} from 'src/modules/analytics/analytics.service';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { RetryService } from 'src/modules/emails/retry.service';
import { checkRedis } from 'src/startup';

interface JobsRunOptions {
  hour?: Date;
}

/** One runnable job: whether it takes --hour, and how to run it in-process. */
interface JobSpec {
  takesHour: boolean;
  /** Runs the job; resolves to the one line to print. */
  run(options: JobsRunOptions): Promise<string>;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})$/;

@Command({
  name: 'jobs:run',
  arguments: '<job>',
  description:
    'Run a scheduled job now, in this process (outbox-sweep, retry-scheduled, prune-attachments, hourly-stats, daily-stats)',
})
export class JobsRunCommand extends CommandRunner {
  /** Job name → spec. Later jobs (anomaly-check, …) plug in here. */
  private readonly jobs: Record<string, JobSpec>;

  constructor(
    private readonly config: AppConfig,
    outbox: OutboxService,
    retries: RetryService,
    analytics: AnalyticsService,
    anomalies: AnomalyDetectorService,
    attachments: AttachmentsService,
  ) {
    super();
    this.jobs = {
      'outbox-sweep': {
        takesHour: false,
        run: async () => {
          await this.requireRedis();
          return `outbox-sweep: enqueued ${await outbox.sweep()} message(s)`;
        },
      },
      'retry-scheduled': {
        takesHour: false,
        run: async () => {
          await this.requireRedis();
          const { requeued, suppressed } = await retries.requeueDue();
          return `retry-scheduled: re-queued ${requeued} message(s), ${suppressed} failed as suppressed`;
        },
      },
      'prune-attachments': {
        takesHour: false,
        run: async () => {
          const { sets, blobs } = await attachments.prune();
          return `prune-attachments: deleted ${sets} attachment set(s), ${blobs} stored file(s)`;
        },
      },
      'hourly-stats': {
        takesHour: true,
        run: async ({ hour }) => {
          const { global: g, domains } = await analytics.aggregateHour(
            hour ?? previousHour(new Date()),
          );
          return (
            `hourly-stats: ${g.hour.toISOString()}: sent ${g.sent}, delivered ${g.delivered}, ` +
            `bounced ${g.bouncedHard} hard / ${g.bouncedSoft} soft, complained ${g.complained}, ` +
            `opened ${g.opened}, clicked ${g.clicked}; ${domains.length} domain row(s)`
          );
        },
      },
      'daily-stats': {
        takesHour: false,
        run: async () => {
          const { campaigns, pruned: p } = await analytics.runDaily();
          return (
            `daily-stats: refreshed ${campaigns} campaign(s); pruned ${p.idempotencyKeys} ` +
            `idempotency key(s), ${p.webhookEvents} webhook event(s), ${p.emailEvents} email ` +
            `event(s), ${p.hourlyStats} hourly stat row(s)`
          );
        },
      },
      'anomaly-check': {
        takesHour: true,
        run: async ({ hour }) => {
          await this.requireRedis();
          const at = startOfHour(hour ?? previousHour(new Date()));
          const r = await anomalies.check(at);
          if (r.outcome === 'none') return `anomaly-check: ${r.hour}: no anomaly (sent ${r.sent})`;
          const what = r.anomalies.map(
            (a) => `${a.type}${a.domain ? `@${a.domain}` : ''}=${a.value}% ${a.severity}`,
          );
          return `anomaly-check: ${r.hour}: ${what.join(', ')} → ${r.outcome === 'rule_report' ? 'hourly_check' : 'ai_triggered'} report #${r.reportId}${r.paused ? '; sending paused' : ''}`;
        },
      },
    };
  }

  async run([name]: string[], options: JobsRunOptions): Promise<void> {
    const job = Object.hasOwn(this.jobs, name) ? this.jobs[name] : undefined;
    if (!job) {
      throw new Error(`unknown job "${name}"; known: ${Object.keys(this.jobs).join(', ')}`);
    }
    if (options.hour && !job.takesHour) throw new Error(`${name} does not take --hour`);
    process.stdout.write(`${await job.run(options)}\n`);
  }

  @Option({
    flags: '--hour <iso>',
    description: 'The hour to process, ISO 8601 (e.g. 2026-01-31T13:00:00Z); hourly jobs only',
  })
  parseHour(value: string): Date {
    const hour = new Date(value);
    if (!ISO_DATE_TIME.test(value) || Number.isNaN(hour.getTime())) {
      throw new Error('--hour must be an ISO 8601 date-time with a zone, e.g. 2026-01-31T13:00Z');
    }
    return hour;
  }

  /**
   * BullMQ's connection waits for Redis forever (its workers need that); a one-shot command
   * must fail with a clear line instead of hanging, so check that Redis answers first.
   */
  private requireRedis(): Promise<void> {
    return checkRedis(this.config.redisUrl);
  }
}
