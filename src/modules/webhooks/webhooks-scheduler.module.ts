import { Module } from '@nestjs/common';
import { WebhooksScheduler } from 'src/modules/webhooks/webhooks.scheduler';

/** Loaded only in processes with the `scheduler` role. */
@Module({ providers: [WebhooksScheduler] })
export class WebhooksSchedulerModule {}
