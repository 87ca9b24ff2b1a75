import { Module } from '@nestjs/common';
import { EventWebhooksProcessor } from 'src/modules/event-webhooks/event-webhooks.processor';
import { EventWebhooksModule } from 'src/modules/event-webhooks/event-webhooks.module';

/** Loaded only in processes with the `worker` role. */
@Module({ imports: [EventWebhooksModule], providers: [EventWebhooksProcessor] })
export class EventWebhooksWorkerModule {}
