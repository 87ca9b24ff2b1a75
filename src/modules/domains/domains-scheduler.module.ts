import { Module } from '@nestjs/common';
import { DomainsScheduler } from 'src/modules/domains/domains.scheduler';

/** Loaded only in processes with the `scheduler` role. */
@Module({ providers: [DomainsScheduler] })
export class DomainsSchedulerModule {}
