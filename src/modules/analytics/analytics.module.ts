import { Module } from '@nestjs/common';
import { AnalyticsMaintenanceRepository } from 'src/modules/analytics/analytics-maintenance.repository';
import { AnalyticsService } from 'src/modules/analytics/analytics.service';
import { HourlyStatsRepository } from 'src/modules/analytics/hourly-stats.repository';
import { StatsController } from 'src/modules/analytics/stats.controller';
import { StatsService } from 'src/modules/analytics/stats.service';

/** Hourly statistics, the daily maintenance and the stats API (README "Management"). */
@Module({
  controllers: [StatsController],
  providers: [
    AnalyticsService,
    StatsService,
    HourlyStatsRepository,
    AnalyticsMaintenanceRepository,
  ],
  exports: [AnalyticsService, StatsService],
})
export class AnalyticsModule {}
