import { Module } from '@nestjs/common';
import { OutboxScheduler } from 'src/modules/emails/outbox.scheduler';

/** Loaded only in processes with the `scheduler` role. */
@Module({ providers: [OutboxScheduler] })
export class EmailsSchedulerModule {}
