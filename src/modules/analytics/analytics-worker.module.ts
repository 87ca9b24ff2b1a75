import { Module } from '@nestjs/common';
import { AnalyticsModule } from 'src/modules/analytics/analytics.module';
import { AnalyticsProcessor } from 'src/modules/analytics/analytics.processor';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';

/** Loaded only in processes with the `worker` role. */
@Module({
  imports: [AnalyticsModule, DiagnosticsModule],
  providers: [AnalyticsProcessor],
})
export class AnalyticsWorkerModule {}
