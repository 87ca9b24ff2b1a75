import { Module } from '@nestjs/common';
import { EventWebhooksScheduler } from 'src/modules/event-webhooks/event-webhooks.scheduler';

/** Loaded only in processes with the `scheduler` role. */
@Module({ providers: [EventWebhooksScheduler] })
export class EventWebhooksSchedulerModule {}
