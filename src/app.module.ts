import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { ThrottlerModule } from '@nestjs/throttler';
import { AllExceptionsFilter } from 'src/common/errors/all-exceptions.filter';
import { HotRoutesFirst } from 'src/common/http/hot-routes';
import { createValidationPipe } from 'src/common/http/validation';
import { AppConfig } from 'src/config/app-config';
import { ConfigModule } from 'src/config/config.module';
import { AdaptiveConcurrencyModule } from 'src/infra/adaptive-concurrency/adaptive-concurrency.module';
import { DatabaseModule } from 'src/infra/database/database.module';
import { HealthModule } from 'src/infra/health/health.module';
import { LoggingModule } from 'src/infra/logging/logging.module';
import { MetricsModule } from 'src/infra/metrics/metrics.module';
import { QueueBoardModule } from 'src/infra/queue/queue-board.module';
import { QueueModule } from 'src/infra/queue/queue.module';
import { RedisModule } from 'src/infra/redis/redis.module';
import { RedisService } from 'src/infra/redis/redis.service';
import {
  IpThrottlerGuard,
  KeyThrottlerGuard,
  throttlerOptions,
} from 'src/infra/throttling/api-throttler.guard';
import { RedisThrottlerStorage } from 'src/infra/throttling/redis-throttler.storage';
import { AuthModule } from 'src/modules/auth/auth.module';
import { ApiKeyGuard } from 'src/modules/auth/guards/api-key.guard';
import { BanGuard } from 'src/modules/auth/guards/ban.guard';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';
import { AnalyticsWorkerModule } from 'src/modules/analytics/analytics-worker.module';
import { AnalyticsModule } from 'src/modules/analytics/analytics.module';
import { AnalyticsSchedulerModule } from 'src/modules/analytics/analytics-scheduler.module';
import { EmailsSchedulerModule } from 'src/modules/emails/emails-scheduler.module';
import { EmailsWorkerModule } from 'src/modules/emails/emails-worker.module';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { NotificationsModule } from 'src/modules/notifications/notifications.module';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { WebhooksIngressModule } from 'src/modules/webhooks/webhooks-ingress.module';
import { WebhooksSchedulerModule } from 'src/modules/webhooks/webhooks-scheduler.module';
import { WebhooksWorkerModule } from 'src/modules/webhooks/webhooks-worker.module';
import { WebhooksModule } from 'src/modules/webhooks/webhooks.module';
import { TemplatesModule } from 'src/modules/templates/templates.module';
import { RateControlModule } from 'src/modules/rate-control/rate-control.module';
import { DashboardModule } from 'src/modules/dashboard/dashboard.module';
import { DomainsSchedulerModule } from 'src/modules/domains/domains-scheduler.module';
import { DomainsWorkerModule } from 'src/modules/domains/domains-worker.module';
import { DomainsModule } from 'src/modules/domains/domains.module';
import { EventWebhooksModule } from 'src/modules/event-webhooks/event-webhooks.module';
import { EventWebhooksSchedulerModule } from 'src/modules/event-webhooks/event-webhooks-scheduler.module';
import { EventWebhooksWorkerModule } from 'src/modules/event-webhooks/event-webhooks-worker.module';

/**
 * The whole application; `config.roles` decides which parts run in this process
 * (api: HTTP; worker: queue processors; scheduler: cron ticks).
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const api = config.hasRole('api');
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        DatabaseModule,
        RedisModule,
        QueueModule,
        MetricsModule,
        AdaptiveConcurrencyModule,
        ThrottlerModule.forRootAsync({
          inject: [AppConfig, RedisService],
          useFactory: (c: AppConfig, redis: RedisService) => ({
            ...throttlerOptions(c),
            storage: new RedisThrottlerStorage(redis),
          }),
        }),
        AuthModule,
        EmailsModule,
        AnalyticsModule,
        NotificationsModule,
        BlacklistModule,
        TemplatesModule,
        RateControlModule,
        DomainsModule,
        HealthModule,
        ...(api ? [QueueBoardModule, DashboardModule] : []),
        WebhooksModule,
        WebhooksIngressModule,
        DiagnosticsModule,
        EventWebhooksModule,
        ...(config.hasRole('worker')
          ? [
              EmailsWorkerModule,
              WebhooksWorkerModule,
              AnalyticsWorkerModule,
              DomainsWorkerModule,
              EventWebhooksWorkerModule,
            ]
          : []),
        ...(config.hasRole('scheduler')
          ? [
              ScheduleModule.forRoot(),
              EmailsSchedulerModule,
              WebhooksSchedulerModule,
              AnalyticsSchedulerModule,
              DomainsSchedulerModule,
              EventWebhooksSchedulerModule,
            ]
          : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        // Order matters: ban → per-IP limit → API key → per-key limit.
        { provide: APP_GUARD, useExisting: BanGuard },
        { provide: APP_GUARD, useClass: IpThrottlerGuard },
        { provide: APP_GUARD, useExisting: ApiKeyGuard },
        { provide: APP_GUARD, useClass: KeyThrottlerGuard },
        // Once the routes are registered, the hot ones are tried first (docs/ARCHITECTURE.md
        // "Route order").
        ...(api ? [HotRoutesFirst] : []),
      ],
    };
  }
}
