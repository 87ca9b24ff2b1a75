import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { PinoLogger } from 'nestjs-pino';
import { onResponseEnd, writeAccessLine } from 'src/infra/logging/access-log';
import { MetricsService } from 'src/infra/metrics/metrics.service';

/**
 * Every request's access line and `http_request_duration_seconds` sample, from one listener on
 * the response's end. The route label is the matched route pattern, never the raw URL; a
 * response that never finished (the client left) is logged, not timed.
 */
@Injectable()
export class HttpAccessMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const startedAt = Date.now();
    const stop = this.metrics.httpDuration.startTimer();
    onResponseEnd(res, (finished) => {
      if (finished) {
        const routePath = (req.route as { path?: string } | undefined)?.path;
        const route = routePath ? `${req.baseUrl}${routePath}` : 'unmatched';
        stop({ method: req.method, route, status: String(res.statusCode) });
      }
      writeAccessLine(PinoLogger.root, req, res, Date.now() - startedAt);
    });
    next();
  }
}
