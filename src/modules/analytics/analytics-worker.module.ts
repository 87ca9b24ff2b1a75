import { Module } from '@nestjs/common';
import { AnalyticsProcessor } from 'src/modules/analytics/analytics.processor';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { WebhooksModule } from 'src/modules/webhooks/webhooks.module';

/** Loaded only in processes with the `worker` role. */
@Module({ imports: [EmailsModule, WebhooksModule], providers: [AnalyticsProcessor] })
export class AnalyticsWorkerModule {}
