import { Module } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from 'src/config/app-config';

/** Structured pino logs; every HTTP log line carries the request id. Secrets are redacted. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id?: string }).id ?? '',
          customAttributeKeys: { reqId: 'request_id' },
          redact: {
            paths: [
              'req.headers.authorization',
              'req.headers.cookie',
              'req.headers["x-postal-signature"]',
              'req.headers["x-postal-signature-256"]',
              'req.headers["x-server-api-key"]',
              'req.headers["idempotency-key"]',
            ],
            censor: '[redacted]',
          },
          serializers: {
            req: (req: { id: string; method: string; url: string; headers: object }) => ({
              id: req.id,
              method: req.method,
              // Tracking and unsubscribe tokens are capabilities: keep them out of logs.
              url: req.url.replace(/^\/(t\/[oc]|unsubscribe)\/[^/?]+/, '/$1/[token]'),
              headers: req.headers,
            }),
          },
          autoLogging: {
            ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? ''),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
