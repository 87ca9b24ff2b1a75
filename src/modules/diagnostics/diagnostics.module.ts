import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from 'src/modules/notifications/notifications.module';
import { AnalyticsModule } from 'src/modules/analytics/analytics.module';
import { RateControlModule } from 'src/modules/rate-control/rate-control.module';
import { AiDiagnosisService } from 'src/modules/diagnostics/ai-diagnosis.service';
import { AnomalyDetectorService } from 'src/modules/diagnostics/anomaly-detector.service';
import { AnthropicDiagnoser } from 'src/modules/diagnostics/anthropic-diagnoser';
import { DiagnosticReport } from 'src/modules/diagnostics/diagnostic-report.entity';
import { DiagnosticReportRepository } from 'src/modules/diagnostics/diagnostic-report.repository';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { ReportsController } from 'src/modules/diagnostics/reports.controller';
import { ReportsService } from 'src/modules/diagnostics/reports.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([DiagnosticReport]),
    NotificationsModule,
    AnalyticsModule,
    RateControlModule,
  ],
  controllers: [ReportsController],
  providers: [
    DiagnosticsService,
    ReportsService,
    DiagnosticReportRepository,
    AnomalyDetectorService,
    AiDiagnosisService,
    AnthropicDiagnoser,
  ],
  exports: [DiagnosticsService, ReportsService, AnomalyDetectorService, AiDiagnosisService],
})
export class DiagnosticsModule {}
