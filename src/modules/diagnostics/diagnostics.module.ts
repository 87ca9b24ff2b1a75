import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DiagnosticReport } from 'src/modules/diagnostics/diagnostic-report.entity';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';

@Module({
  imports: [TypeOrmModule.forFeature([DiagnosticReport])],
  providers: [DiagnosticsService],
  exports: [DiagnosticsService],
})
export class DiagnosticsModule {}
