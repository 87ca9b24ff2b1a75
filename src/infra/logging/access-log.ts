import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** Probes and scrapes write no access line (they would drown the rest). */
const UNLOGGED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

type LoggedRequest = IncomingMessage & { originalUrl?: string };

/**
 * Watches one response to its end — `finish`, or `close` when the client went away first — and
 * calls `ended` once, with whether the response was sent whole.
 */
export function onResponseEnd(res: ServerResponse, ended: (finished: boolean) => void): void {
  let done = false;
  const end = (): void => {
    if (done) return;
    done = true;
    res.off('finish', end);
    res.off('close', end);
    ended(res.writableFinished);
  };
  res.once('finish', end);
  res.once('close', end);
}

/**
 * The access line of one request (README "Observability"): `req` (request id, method, redacted
 * URL, user agent, referer), `res` (status) and `responseTime` in ms, with pino-http's messages
 * — `request completed`, `request aborted` (the client left first), `request errored` (5xx).
 *
 * Written once, when the response ends, through the app's root logger: its serializers
 * (src/infra/logging/logger-options.ts) make the fields. There is no per-request child logger
 * and no per-request logging context: pino-http's child logger and nestjs-pino's
 * AsyncLocalStorage store cost about a fifth of the API's CPU per `/send` (README
 * "Performance"), paid even when nothing else was logged.
 */
export function writeAccessLine(
  logger: Logger | undefined,
  req: LoggedRequest,
  res: ServerResponse,
  responseTime: number,
): void {
  if (!logger?.isLevelEnabled('info')) return;
  if (UNLOGGED_PATHS.test(req.originalUrl ?? req.url ?? '')) return;
  const msg =
    res.statusCode >= 500
      ? 'request errored'
      : !req.readableAborted && res.writableFinished
        ? 'request completed'
        : 'request aborted';
  logger.info({ req, res, responseTime }, msg);
}
