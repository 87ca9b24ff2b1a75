import type { Options } from 'pino-http';
import { AppConfig } from 'src/config/app-config';
import { loggedHeaders, redactUrl } from 'src/infra/logging/redact';

/**
 * The root logger's options, given to nestjs-pino (which builds the logger through pino-http,
 * so `req`, `res` and `err` pass pino's standard serializers first). The `req` serializer makes
 * the access line's request (src/infra/logging/access-log.ts): the request id, method, URL
 * (secrets replaced by `[redacted]`, README "Security"), user agent and referer — not every
 * header: serializing and redacting all of them was about 4 % of the API process's CPU under
 * webhook load (profile in README "Performance").
 */
export function rootLoggerOptions(config: AppConfig): Options {
  return {
    level: config.logLevel,
    serializers: {
      req: (req: {
        id: string;
        method: string;
        url: string;
        headers: Record<string, unknown>;
      }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url ?? ''),
        ...loggedHeaders(req.headers ?? {}),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}
