import { Module } from '@nestjs/common';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { DomainsMonitorService } from 'src/modules/domains/domains-monitor.service';
import { DomainsModule } from 'src/modules/domains/domains.module';
import { DomainsProcessor } from 'src/modules/domains/domains.processor';

/** Loaded only in processes with the `worker` role (and by `jobs:run dns-recheck`). */
@Module({
  imports: [DomainsModule, DiagnosticsModule],
  providers: [DomainsProcessor, DomainsMonitorService],
  exports: [DomainsMonitorService],
})
export class DomainsWorkerModule {}
