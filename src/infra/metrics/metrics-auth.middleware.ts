import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { UnauthorizedError } from 'src/common/errors/app-error';
import { checkBasicAuth } from 'src/common/http/basic-auth';
import type { RequestWithId } from 'src/common/http/request-id';
import { AppConfig } from 'src/config/app-config';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * GET /metrics names routes, queues and process internals (README "Security"). With
 * METRICS_TOKEN set it needs `Authorization: Bearer <METRICS_TOKEN>` (what Prometheus'
 * `authorization` / `bearer_token` scrape settings send) or the operator's Basic auth; in
 * production it needs one of them even without a token. Elsewhere it stays open.
 */
@Injectable()
export class MetricsAuthMiddleware implements NestMiddleware {
  constructor(private readonly config: AppConfig) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const { metricsToken, isProduction, admin } = this.config;
    if (!metricsToken && !isProduction) return next();
    const header = req.headers.authorization;
    const bearer = BEARER.exec(header ?? '');
    if (metricsToken && bearer && timingSafeEqual(digest(bearer[1]), digest(metricsToken))) {
      return next();
    }
    if (checkBasicAuth(header, admin.username, admin.password)) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="Email Sender", charset="UTF-8"');
    const { status, body } = toErrorBody(
      new UnauthorizedError(
        metricsToken
          ? 'Metrics need Authorization: Bearer <METRICS_TOKEN> or the operator login'
          : 'Metrics need the operator login (or set METRICS_TOKEN)',
      ),
      (req as RequestWithId).id ?? '',
    );
    res.status(status).json(body);
  }
}
