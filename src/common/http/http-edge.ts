import cors from 'cors';
import express, { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig } from 'src/config/app-config';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { PayloadTooLargeError, ValidationFailedError } from 'src/common/errors/app-error';
import { RequestWithId, requestIdMiddleware } from 'src/common/http/request-id';
import { findUnstorableText, mayHoldUnstorableBytes } from 'src/common/text/storable-text';

export const JSON_LIMIT = '1mb';
export const BATCH_JSON_LIMIT = '10mb';
/** Routes whose signature is computed over the raw request bytes. */
export const RAW_BODY_ROUTES = ['/api/v1/webhook', '/api/v1/inbound/postal'];
const HEALTH_PATHS = /^\/(api\/v1\/)?health(\/|$)/;

export type RequestWithRawBody = Request & { rawBody?: Buffer };

/** HTTP → HTTPS in production; health probes over plain HTTP stay reachable. */
function httpsRedirect(req: Request, res: Response, next: NextFunction): void {
  if (req.secure || HEALTH_PATHS.test(req.path)) return next();
  const host = req.headers.host;
  if (!host) return next();
  res.redirect(308, `https://${host}${req.originalUrl}`);
}

/** Body-parser failures (malformed JSON, too large) in the API error shape, never a 500. */
function bodyErrorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const type = (err as { type?: string } | null)?.type;
  let mapped: Error | undefined;
  if (type === 'entity.too.large') {
    mapped = new PayloadTooLargeError(req.path === '/api/v1/batch' ? BATCH_JSON_LIMIT : JSON_LIMIT);
  } else if (type === 'entity.parse.failed') {
    mapped = new ValidationFailedError('Malformed JSON in request body');
  } else if (
    type === 'encoding.unsupported' ||
    type === 'charset.unsupported' ||
    type === 'request.aborted' ||
    type === 'request.size.invalid' ||
    type === 'entity.verify.failed'
  ) {
    mapped = new ValidationFailedError('The request body could not be read');
  }
  if (!mapped) return next(err);
  const { status, body } = toErrorBody(mapped, (req as RequestWithId).id ?? '');
  res.status(status).json(body);
}

type RequestWithTextCheck = Request & { mayHoldUnstorable?: boolean };

/** Body-parser `verify`: a cheap scan of the raw bytes, so most bodies are never walked. */
function scanForUnstorable(req: Request, _res: Response, buf: Buffer): void {
  if (mayHoldUnstorableBytes(buf)) (req as RequestWithTextCheck).mayHoldUnstorable = true;
}

/** 400 for text PostgreSQL cannot store (U+0000, lone surrogates), instead of a 500 at the insert. */
function rejectUnstorableText(req: Request, res: Response, next: NextFunction): void {
  const field = req.originalUrl.includes('%00')
    ? 'url'
    : (req as RequestWithTextCheck).mayHoldUnstorable
      ? findUnstorableText(req.body)
      : null;
  if (field === null) return next();
  // The path names the client's own keys: echo a bounded part of it.
  const name = field.length > 200 ? `${field.slice(0, 200)}…` : field;
  const { status, body } = toErrorBody(
    new ValidationFailedError(`${name} contains U+0000 or an unpaired surrogate`, [
      { field: name, message: `${name} must not contain U+0000 or an unpaired UTF-16 surrogate` },
    ]),
    (req as RequestWithId).id ?? '',
  );
  res.status(status).json(body);
}

/**
 * Everything that sits in front of the Nest router: request ids, HTTPS, security headers,
 * CORS for /api, and body parsing with per-route limits. Nest's own body parser is off.
 */
export function configureHttpEdge(app: NestExpressApplication, config: AppConfig): void {
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.use(requestIdMiddleware);
  if (config.isProduction) app.use(httpsRedirect);
  app.use(
    helmet({
      hsts: config.isProduction
        ? { maxAge: 31536000, includeSubDomains: true, preload: true }
        : false,
      contentSecurityPolicy: {
        useDefaults: true,
        directives: {
          'upgrade-insecure-requests': config.isProduction ? [] : null,
          'script-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
        },
      },
    }),
  );
  app.use(
    '/api',
    cors({
      origin: (origin, cb) => cb(null, !origin || config.allowedOrigins.includes(origin)),
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      exposedHeaders: ['X-Request-Id', 'X-RateLimit-Remaining'],
      maxAge: 600,
    }),
  );
  const keepRaw = (req: Request, _res: Response, buf: Buffer): void => {
    (req as RequestWithRawBody).rawBody = buf;
  };
  app.use(
    RAW_BODY_ROUTES,
    express.raw({ type: () => true, limit: BATCH_JSON_LIMIT, verify: keepRaw }),
  );
  app.use('/api/v1/batch', express.json({ limit: BATCH_JSON_LIMIT, verify: scanForUnstorable }));
  app.use(express.json({ limit: JSON_LIMIT, verify: scanForUnstorable }));
  app.use(express.urlencoded({ extended: false, limit: '100kb', verify: scanForUnstorable }));
  app.use(bodyErrorHandler);
  app.use('/api', rejectUnstorableText);
}
