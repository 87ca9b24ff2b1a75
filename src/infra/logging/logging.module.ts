import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from 'src/config/app-config';
import { rootLoggerOptions } from 'src/infra/logging/logger-options';

/**
 * Structured pino logs through nestjs-pino's Nest logger, secrets redacted. nestjs-pino's own
 * per-request middlewares (pino-http's child logger, an AsyncLocalStorage store) are not
 * mounted (`forRoutes: []`): each request's access line is written once at its end by
 * `httpAccess` (src/infra/logging/http-access.ts, mounted at the HTTP edge) and carries the
 * request id (README "Observability").
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: rootLoggerOptions(config), forRoutes: [] }),
    }),
  ],
})
export class LoggingModule {}
