import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { DashboardService } from 'src/modules/dashboard/dashboard.service';
import { DashboardViews } from 'src/modules/dashboard/dashboard-views';

const TITLES: Record<number, string> = {
  400: 'That request does not look right',
  403: 'Not allowed',
  404: 'Not found',
  413: 'Too large',
  503: 'A backing service is unavailable',
};

/**
 * Dashboard errors as HTML pages, with the status code and message the API would give (the
 * same mapping as the global filter: a bad filter is a 400 page, an unknown id a 404 page),
 * and never internals.
 */
@Catch()
export class DashboardExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(DashboardExceptionFilter.name);

  constructor(
    private readonly views: DashboardViews,
    private readonly dashboard: DashboardService,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const requestId = String(req.id ?? '');
    const { status, body } = toErrorBody(exception, requestId);
    if (status >= 500) {
      this.logger.error(
        { err: exception, requestId, path: req.path, method: req.method },
        status === 503 ? 'backing service unavailable' : 'unhandled dashboard error',
      );
    }
    if (res.headersSent) return;
    const title = TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'Request failed');
    const html = this.views.render('error', {
      ...this.dashboard.base(`${status} · ${title}`, '', null),
      status,
      title,
      message: body.error.message,
      // A single detail usually repeats the message: list details only when they add to it.
      details: (body.error.details ?? [])
        .filter((d, _i, all) => all.length > 1 || d.message !== body.error.message)
        .map((d) => ({ field: d.field ?? '', message: d.message })),
      requestId,
    });
    res.status(status).type('html').send(html);
  }
}
