import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job, UnrecoverableError } from 'bullmq';
import { DomainsJob, JobPayloads, QueueName } from 'src/infra/queue/queue.constants';
import { DomainsMonitorService } from 'src/modules/domains/domains-monitor.service';

type DomainsQueueJob = Job<JobPayloads[DomainsJob], unknown, DomainsJob>;

/** Worker of the `domains` queue: the daily DNS re-check (docs/ARCHITECTURE.md "Queues and jobs"). */
@Processor(QueueName.Domains, { concurrency: 1 })
export class DomainsProcessor extends WorkerHost {
  constructor(private readonly monitor: DomainsMonitorService) {
    super();
  }

  async process(job: DomainsQueueJob): Promise<unknown> {
    switch (job.name) {
      case DomainsJob.DnsRecheck:
        return this.monitor.recheckAll();
      default: {
        const unknown: never = job.name;
        throw new UnrecoverableError(`unknown job ${String(unknown)}`);
      }
    }
  }
}
