import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { NotFoundError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import {
  ReportListQueryDto,
  ReportListResponseDto,
  ReportResolveDto,
  ReportResponseDto,
} from 'src/modules/diagnostics/dto/report.dto';
import { ReportsService } from 'src/modules/diagnostics/reports.service';

function reportId(raw: string): number {
  if (!/^\d{1,10}$/.test(raw)) throw new NotFoundError(`Report ${raw} not found`);
  return Number(raw);
}

@ApiTags('reports')
@ApiBearerAuth()
@Controller('api/v1/reports')
export class ReportsController {
  constructor(private readonly reports: ReportsService) {}

  @Get()
  @ApiOperation({
    operationId: 'listReports',
    summary: 'Diagnostic reports, newest first (filters: status, severity, report_type)',
  })
  @ApiResponse({ status: 200, type: ReportListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() q: ReportListQueryDto): Promise<ReportListResponseDto> {
    return this.reports.list(q);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getReport',
    summary: 'One report with its anomalies, statistics and AI analysis',
  })
  @ApiResponse({ status: 200, type: ReportResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  get(@Param('id') id: string): Promise<ReportResponseDto> {
    return this.reports.get(reportId(id));
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'acknowledgeReport',
    summary: 'Acknowledge a report (someone is on it)',
  })
  @ApiResponse({ status: 200, type: ReportResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  acknowledge(@Param('id') id: string): Promise<ReportResponseDto> {
    return this.reports.acknowledge(reportId(id));
  }

  @Post(':id/resolve')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'resolveReport',
    summary: 'Resolve a report, with notes',
  })
  @ApiResponse({ status: 200, type: ReportResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  resolve(@Param('id') id: string, @Body() dto: ReportResolveDto): Promise<ReportResponseDto> {
    return this.reports.resolve(reportId(id), dto.notes);
  }
}
