import { Module } from '@nestjs/common';
import { WebhooksModule } from 'src/modules/webhooks/webhooks.module';
import { WebhooksProcessor } from 'src/modules/webhooks/webhooks.processor';

/** Loaded only in processes with the `worker` role. */
@Module({ imports: [WebhooksModule], providers: [WebhooksProcessor] })
export class WebhooksWorkerModule {}
