import {
  Controller,
  Get,
  Header,
  Param,
  ParseIntPipe,
  Query,
  Req,
  Res,
  UseFilters,
} from '@nestjs/common';
import { NotFoundError } from 'src/common/errors/app-error';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from 'src/common/decorators/route-policy.decorators';
import { DashboardCsrf } from 'src/modules/dashboard/dashboard-csrf';
import { DashboardDomainsPages } from 'src/modules/dashboard/dashboard-domains';
import { DashboardEventWebhookPages } from 'src/modules/dashboard/dashboard-event-webhooks';
import { DashboardFeedbackPages } from 'src/modules/dashboard/dashboard-feedback';
import { DashboardExceptionFilter } from 'src/modules/dashboard/dashboard-exception.filter';
import { dashboardCsp } from 'src/modules/dashboard/dashboard-http';
import { DashboardViews } from 'src/modules/dashboard/dashboard-views';
import { DashboardService, noticeText } from 'src/modules/dashboard/dashboard.service';
import {
  DashboardLogsQueryDto,
  DashboardOverviewQueryDto,
} from 'src/modules/dashboard/dto/dashboard-logs-query.dto';
import { FeedbackReportListQueryDto } from 'src/modules/webhooks/dto/feedback-report.dto';

const HTML = 'text/html; charset=utf-8';

/**
 * The dashboard's pages (README "Dashboard"). Basic auth and the security headers are applied
 * by DashboardModule's middleware; no API key (operators are not API clients).
 */
@ApiExcludeController()
@Public()
@UseFilters(DashboardExceptionFilter)
@Controller('dashboard')
export class DashboardController {
  constructor(
    private readonly dashboard: DashboardService,
    private readonly views: DashboardViews,
    private readonly csrf: DashboardCsrf,
    private readonly feedbackPages: DashboardFeedbackPages,
    private readonly attachments: AttachmentsService,
    private readonly domainPages: DashboardDomainsPages,
    private readonly webhookPages: DashboardEventWebhookPages,
  ) {}

  @Get()
  @Header('Content-Type', HTML)
  async overview(
    @Query() query: DashboardOverviewQueryDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base(
      'Overview',
      this.csrf.issue(req, res),
      'overview',
      noticeText(query.notice, query.subject),
    );
    return this.views.render(
      'overview',
      await this.dashboard.overview(base, new Date(), query.stream ?? null),
    );
  }

  @Get('logs')
  @Header('Content-Type', HTML)
  async logs(
    @Query() query: DashboardLogsQueryDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base('Message logs', this.csrf.issue(req, res), 'logs');
    return this.views.render('logs', await this.dashboard.logs(base, query));
  }

  @Get('logs/:messageId')
  @Header('Content-Type', HTML)
  async message(
    @Param('messageId') messageId: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base('Message', this.csrf.issue(req, res), 'logs');
    const { model, styleHashes, images } = await this.dashboard.message(base, messageId);
    model.pageTitle = `Message to ${model.recipient}`;
    // The sandboxed preview inherits this policy: allow exactly the email's own inline styles
    // (and, when it has inline images, the attachment route below).
    res.setHeader('Content-Security-Policy', dashboardCsp(styleHashes, images));
    return this.views.render('message', model);
  }

  /**
   * One attachment of a message, behind the operator login like every dashboard route:
   * images inline (the preview shows them), anything else as a download; never sniffed,
   * never run (README "Dashboard").
   */
  @Get('logs/:messageId/attachments/:position')
  async attachment(
    @Param('messageId') messageId: string,
    @Param('position', ParseIntPipe) position: number,
    @Res() res: Response,
  ): Promise<void> {
    const found = /^[0-9a-f-]{36}$/i.test(messageId)
      ? await this.attachments.attachmentOf(messageId.toLowerCase(), position)
      : null;
    if (!found) throw new NotFoundError('No such attachment (or it was pruned)');
    const image = /^image\/(png|gif|jpeg|webp)$/.test(found.contentType);
    res.setHeader('Content-Type', image ? found.contentType : 'application/octet-stream');
    res.setHeader(
      'Content-Disposition',
      `${image ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(found.filename)}`,
    );
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.end(found.content);
  }

  @Get('feedback')
  @Header('Content-Type', HTML)
  async feedback(
    @Query() query: FeedbackReportListQueryDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base('Feedback reports', this.csrf.issue(req, res), 'feedback');
    return this.views.render('feedback', await this.feedbackPages.list(base, query));
  }

  @Get('feedback/:id')
  @Header('Content-Type', HTML)
  async feedbackReport(
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base(
      `Feedback report #${id}`,
      this.csrf.issue(req, res),
      'feedback',
    );
    return this.views.render('feedback-report', await this.feedbackPages.one(base, id));
  }

  @Get('domains')
  @Header('Content-Type', HTML)
  async domains(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    const base = this.dashboard.base('Sending domains', this.csrf.issue(req, res), 'domains');
    return this.views.render('domains', await this.domainPages.domainsPage(base));
  }

  @Get('setup')
  @Header('Content-Type', HTML)
  async setup(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    const base = this.dashboard.base('Set-up', this.csrf.issue(req, res), 'setup');
    return this.views.render('setup', await this.domainPages.setupPage(base));
  }

  @Get('event-webhooks')
  @Header('Content-Type', HTML)
  async eventWebhooks(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base('Event webhooks', this.csrf.issue(req, res), 'webhooks');
    return this.views.render('event-webhooks', await this.webhookPages.list(base));
  }

  @Get('event-webhooks/:id')
  @Header('Content-Type', HTML)
  async eventWebhook(
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base(
      'Event webhook endpoint',
      this.csrf.issue(req, res),
      'webhooks',
    );
    return this.views.render('event-webhook', await this.webhookPages.one(base, id));
  }

  @Get('event-webhooks/:id/deliveries/:deliveryId')
  @Header('Content-Type', HTML)
  async eventWebhookDelivery(
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base(
      'Event webhook delivery',
      this.csrf.issue(req, res),
      'webhooks',
    );
    return this.views.render(
      'event-webhook-delivery',
      await this.webhookPages.delivery(base, id, deliveryId),
    );
  }

  @Get('reports/:id')
  @Header('Content-Type', HTML)
  async report(
    @Param('id') id: string,
    @Query('notice') notice: unknown,
    @Query('subject') subject: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const base = this.dashboard.base(
      `Report #${id}`,
      this.csrf.issue(req, res),
      'overview',
      noticeText(notice, subject),
    );
    return this.views.render('report', await this.dashboard.report(base, id));
  }

  @Get('assets/dashboard.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  stylesheet(@Res({ passthrough: true }) res: Response): string {
    // Versioned URL (?v=<content hash>): safe to keep for a day, but only in this browser.
    res.setHeader('Cache-Control', 'private, max-age=86400');
    return this.views.stylesheet;
  }
}
