import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { PinoLogger } from 'nestjs-pino';
import { onResponseEnd, writeAccessLine } from 'src/infra/logging/access-log';
import type { MetricsService } from 'src/infra/metrics/metrics.service';

const ROUTE_LABEL = Symbol('routeLabel');
type LabelledResponse = Response & { [ROUTE_LABEL]?: string };

/**
 * The route label of a response answered before the route table (the webhook ingest lane):
 * the pattern of the route that would have answered it.
 */
export function labelRoute(res: Response, route: string): void {
  (res as LabelledResponse)[ROUTE_LABEL] = route;
}

/**
 * Every request's access line and `http_request_duration_seconds` sample, from one listener on
 * the response's end. Mounted first at the HTTP edge (right behind the request id), so that
 * what the edge answers itself — a webhook refused unread, a body too large or malformed, a
 * CORS preflight — is logged and timed like a route's answer. The route label is the matched
 * route pattern (or the lane's `labelRoute`), `unmatched` otherwise, never the raw URL; a
 * response that never finished (the client left) is logged, not timed.
 */
export function httpAccess(metrics: Pick<MetricsService, 'httpDuration'>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const startedAt = Date.now();
    const stop = metrics.httpDuration.startTimer();
    onResponseEnd(res, (finished) => {
      if (finished) {
        const routePath = (req.route as { path?: string } | undefined)?.path;
        const route = routePath
          ? `${req.baseUrl}${routePath}`
          : ((res as LabelledResponse)[ROUTE_LABEL] ?? 'unmatched');
        stop({ method: req.method, route, status: String(res.statusCode) });
      }
      writeAccessLine(PinoLogger.root, req, res, Date.now() - startedAt);
    });
    next();
  };
}
