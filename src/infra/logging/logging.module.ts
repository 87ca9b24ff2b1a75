import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from 'src/config/app-config';
import { HttpAccessMiddleware } from 'src/infra/logging/http-access.middleware';
import { rootLoggerOptions } from 'src/infra/logging/logger-options';

/**
 * Structured pino logs through nestjs-pino's Nest logger, secrets redacted. nestjs-pino's own
 * per-request middlewares (pino-http's child logger, an AsyncLocalStorage store) are not
 * mounted (`forRoutes: []`): each request's access line is written once at its end by
 * `HttpAccessMiddleware` and carries the request id (README "Observability").
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: rootLoggerOptions(config), forRoutes: [] }),
    }),
  ],
})
export class LoggingModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpAccessMiddleware).forRoutes('*path');
  }
}
