import { Module } from '@nestjs/common';
import { AnalyticsScheduler } from 'src/modules/analytics/analytics.scheduler';

/** Loaded only in processes with the `scheduler` role. */
@Module({ providers: [AnalyticsScheduler] })
export class AnalyticsSchedulerModule {}
