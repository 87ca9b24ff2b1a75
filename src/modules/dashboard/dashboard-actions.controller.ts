import { All, Body, Controller, Param, Post, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from 'src/common/decorators/route-policy.decorators';
import { NotFoundError } from 'src/common/errors/app-error';
import { ReportsService } from 'src/modules/diagnostics/reports.service';
import { DashboardCsrfGuard } from 'src/modules/dashboard/dashboard-csrf';
import { DashboardExceptionFilter } from 'src/modules/dashboard/dashboard-exception.filter';
import type { NoticeKind } from 'src/modules/dashboard/dashboard.service';
import {
  DashboardFormDto,
  DomainFormDto,
  StreamFormDto,
  ReportActionFormDto,
  ReportResolveFormDto,
} from 'src/modules/dashboard/dto/dashboard-forms.dto';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';

/** A report id as the dashboard links it; anything else cannot name a report (404). */
function reportId(raw: string): number {
  if (!/^\d{1,10}$/.test(raw)) throw new NotFoundError(`Report ${raw} not found`);
  return Number(raw);
}

/** Post/Redirect/Get: 303 back to the page, with a one-time notice of what happened. */
function back(res: Response, path: string, notice: NoticeKind, subject = '', hash = ''): void {
  const q = new URLSearchParams({ notice, ...(subject ? { subject } : {}) });
  res.redirect(303, `${path}?${q.toString()}${hash}`);
}

/**
 * The dashboard's state-changing forms. Each checks the CSRF token first (403 without a valid
 * one), then makes one call to the service that owns the state, then redirects (303).
 */
@ApiExcludeController()
@Public()
@UseFilters(DashboardExceptionFilter)
@Controller('dashboard')
export class DashboardActionsController {
  constructor(
    private readonly reports: ReportsService,
    private readonly rates: RateControlService,
  ) {}

  @Post('reports/:id/acknowledge')
  @UseGuards(DashboardCsrfGuard)
  async acknowledge(
    @Param('id') id: string,
    @Body() form: ReportActionFormDto,
    @Res() res: Response,
  ): Promise<void> {
    const report = await this.reports.acknowledge(reportId(id));
    this.backToReport(res, report.id, form.back, 'acknowledged');
  }

  @Post('reports/:id/resolve')
  @UseGuards(DashboardCsrfGuard)
  async resolve(
    @Param('id') id: string,
    @Body() form: ReportResolveFormDto,
    @Res() res: Response,
  ): Promise<void> {
    const notes = form.notes?.trim();
    const report = await this.reports.resolve(reportId(id), notes ? notes : undefined);
    this.backToReport(res, report.id, form.back, 'resolved');
  }

  @Post('domains/pause')
  @UseGuards(DashboardCsrfGuard)
  async pauseDomain(@Body() form: DomainFormDto, @Res() res: Response): Promise<void> {
    await this.rates.pause(form.domain);
    back(res, '/dashboard', 'paused', form.domain, '#rate-control');
  }

  @Post('domains/resume')
  @UseGuards(DashboardCsrfGuard)
  async resumeDomain(@Body() form: DomainFormDto, @Res() res: Response): Promise<void> {
    await this.rates.resume(form.domain);
    back(res, '/dashboard', 'resumed', form.domain, '#rate-control');
  }

  @Post('domains/reset')
  @UseGuards(DashboardCsrfGuard)
  async resetDomain(@Body() form: DomainFormDto, @Res() res: Response): Promise<void> {
    await this.rates.resetRate(form.domain);
    back(res, '/dashboard', 'reset', form.domain, '#rate-control');
  }

  @Post('sending/pause')
  @UseGuards(DashboardCsrfGuard)
  async pauseAll(@Body() _form: DashboardFormDto, @Res() res: Response): Promise<void> {
    await this.rates.pause();
    back(res, '/dashboard', 'paused-all', '', '#rate-control');
  }

  @Post('sending/resume')
  @UseGuards(DashboardCsrfGuard)
  async resumeAll(@Body() _form: DashboardFormDto, @Res() res: Response): Promise<void> {
    await this.rates.resume();
    back(res, '/dashboard', 'resumed-all', '', '#rate-control');
  }

  @Post('streams/pause')
  @UseGuards(DashboardCsrfGuard)
  async pauseStream(@Body() form: StreamFormDto, @Res() res: Response): Promise<void> {
    await this.rates.pause(undefined, form.stream);
    back(res, '/dashboard', 'paused-stream', form.stream, '#rate-control');
  }

  @Post('streams/resume')
  @UseGuards(DashboardCsrfGuard)
  async resumeStream(@Body() form: StreamFormDto, @Res() res: Response): Promise<void> {
    await this.rates.resume(undefined, form.stream);
    back(res, '/dashboard', 'resumed-stream', form.stream, '#rate-control');
  }

  /** Anything else under /dashboard: a 404 page (behind the same Basic auth). */
  @All('*path')
  notFound(): never {
    throw new NotFoundError('There is no dashboard page at this address');
  }

  private backToReport(
    res: Response,
    id: number,
    to: ReportActionFormDto['back'],
    notice: NoticeKind,
  ): void {
    if (to === 'report') back(res, `/dashboard/reports/${id}`, notice, String(id));
    else back(res, '/dashboard', notice, String(id), '#reports');
  }
}
