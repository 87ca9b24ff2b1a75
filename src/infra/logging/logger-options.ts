import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Options } from 'pino-http';
import { AppConfig } from 'src/config/app-config';
import { redactHeaders, redactUrl, REDACTED, SECRET_HEADERS } from 'src/infra/logging/redact';

/**
 * pino-http options: every HTTP log line carries the request id; secrets in URLs and headers
 * are replaced by `[redacted]` (README "Security").
 */
export function httpLoggerOptions(config: AppConfig): Options {
  return {
    level: config.logLevel,
    genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id?: string }).id ?? '',
    customAttributeKeys: { reqId: 'request_id' },
    // A second line of defence behind the serializers below.
    redact: {
      paths: SECRET_HEADERS.flatMap((h) => [`req.headers["${h}"]`, `res.headers["${h}"]`]),
      censor: REDACTED,
    },
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
        headers: redactHeaders(req.headers ?? {}),
      }),
      res: (res: { statusCode: number; headers?: Record<string, unknown> }) => ({
        statusCode: res.statusCode,
        headers: redactHeaders(res.headers ?? {}),
      }),
    },
    autoLogging: {
      ignore: (req: IncomingMessage) => /^\/(health|metrics)(\/|\?|$)/.test(req.url ?? ''),
    },
  } satisfies Options<IncomingMessage, ServerResponse>;
}
