import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DiagnosticReport } from 'src/modules/diagnostics/diagnostic-report.entity';
import { DiagnosticReportRepository } from 'src/modules/diagnostics/diagnostic-report.repository';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { ReportsController } from 'src/modules/diagnostics/reports.controller';
import { ReportsService } from 'src/modules/diagnostics/reports.service';

@Module({
  imports: [TypeOrmModule.forFeature([DiagnosticReport])],
  controllers: [ReportsController],
  providers: [DiagnosticsService, ReportsService, DiagnosticReportRepository],
  exports: [DiagnosticsService, ReportsService],
})
export class DiagnosticsModule {}
