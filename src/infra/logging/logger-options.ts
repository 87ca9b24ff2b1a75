import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Options } from 'pino-http';
import { AppConfig } from 'src/config/app-config';
import { loggedHeaders, redactUrl } from 'src/infra/logging/redact';

/**
 * pino-http options: one access line per request with the request id, method, URL (secrets
 * replaced by `[redacted]`, README "Security"), user agent, referer and status — not every
 * request and response header: serializing and redacting all of them was about 4 % of the API
 * process's CPU under webhook load (profile in README "Performance").
 */
export function httpLoggerOptions(config: AppConfig): Options {
  return {
    level: config.logLevel,
    genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id?: string }).id ?? '',
    customAttributeKeys: { reqId: 'request_id' },
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
    autoLogging: {
      ignore: (req: IncomingMessage) => /^\/(health|metrics)(\/|\?|$)/.test(req.url ?? ''),
    },
  } satisfies Options<IncomingMessage, ServerResponse>;
}
