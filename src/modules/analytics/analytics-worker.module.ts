import { Module } from '@nestjs/common';
import { AnalyticsProcessor } from 'src/modules/analytics/analytics.processor';
import { EmailsModule } from 'src/modules/emails/emails.module';

/** Loaded only in processes with the `worker` role. */
@Module({ imports: [EmailsModule], providers: [AnalyticsProcessor] })
export class AnalyticsWorkerModule {}
