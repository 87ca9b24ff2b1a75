import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { basicAuthMiddleware } from 'src/common/http/basic-auth';
import { AppConfig } from 'src/config/app-config';
import { AnalyticsModule } from 'src/modules/analytics/analytics.module';
import { DashboardActionsController } from 'src/modules/dashboard/dashboard-actions.controller';
import { DashboardCsrf, DashboardCsrfGuard } from 'src/modules/dashboard/dashboard-csrf';
import { DashboardExceptionFilter } from 'src/modules/dashboard/dashboard-exception.filter';
import { DashboardDomainsPages } from 'src/modules/dashboard/dashboard-domains';
import { DashboardEventWebhookPages } from 'src/modules/dashboard/dashboard-event-webhooks';
import { DashboardFeedbackPages } from 'src/modules/dashboard/dashboard-feedback';
import { dashboardSecurityHeaders } from 'src/modules/dashboard/dashboard-http';
import { DashboardMessageRepository } from 'src/modules/dashboard/dashboard-message.repository';
import { DashboardViews } from 'src/modules/dashboard/dashboard-views';
import { DashboardController } from 'src/modules/dashboard/dashboard.controller';
import { DashboardService } from 'src/modules/dashboard/dashboard.service';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { DoctorModule } from 'src/modules/doctor/doctor.module';
import { DomainsModule } from 'src/modules/domains/domains.module';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { EventWebhooksModule } from 'src/modules/event-webhooks/event-webhooks.module';
import { RateControlModule } from 'src/modules/rate-control/rate-control.module';
import { WebhooksModule } from 'src/modules/webhooks/webhooks.module';

/**
 * The operator dashboard (README "Dashboard"): server-rendered Handlebars pages over the
 * services that own the data, behind the operator's Basic auth. API role only.
 */
@Module({
  imports: [
    AnalyticsModule,
    DiagnosticsModule,
    EmailsModule,
    EventWebhooksModule,
    RateControlModule,
    WebhooksModule,
    DomainsModule,
    DoctorModule.register(),
  ],
  // The actions controller holds the catch-all 404 route, so it is registered last.
  controllers: [DashboardController, DashboardActionsController],
  providers: [
    DashboardService,
    DashboardViews,
    DashboardCsrf,
    DashboardCsrfGuard,
    DashboardExceptionFilter,
    DashboardFeedbackPages,
    DashboardDomainsPages,
    DashboardEventWebhookPages,
    DashboardMessageRepository,
  ],
})
export class DashboardModule implements NestModule {
  constructor(private readonly config: AppConfig) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(
        dashboardSecurityHeaders,
        basicAuthMiddleware(this.config.admin.username, this.config.admin.password),
      )
      .forRoutes(DashboardController, DashboardActionsController);
  }
}
