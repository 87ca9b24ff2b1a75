import cors from 'cors';
import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig } from 'src/config/app-config';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import {
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationFailedError,
} from 'src/common/errors/app-error';
import { hasPostalSignatureHeader, inboundSecretMatches } from 'src/common/http/inbound-auth';
import { installClientAddress } from 'src/common/http/client-address';
import { installMethodNotAllowed, requireJsonBodies } from 'src/common/http/method-routing';
import { RequestWithId, requestIdMiddleware } from 'src/common/http/request-id';
import { findUnstorableText, mayHoldUnstorableBytes } from 'src/common/text/storable-text';

/** JSON API bodies (a template, a suppression, ...). */
export const JSON_LIMIT = '1mb';

/**
 * Body limits of the two sending routes (README "Sending"): room for MAX_MESSAGE_BYTES of
 * attachments as base64 (4/3 of the bytes) on top of the limit without attachments (1 MB for a
 * send, 10 MB for a batch of 10,000 recipients with their variables).
 */
export function sendingBodyLimits(maxMessageBytes: number): { send: string; batch: string } {
  const attachments = Math.ceil(maxMessageBytes / 3) * 4;
  const mb = (bytes: number) => `${Math.ceil(bytes / (1024 * 1024))}mb`;
  return {
    send: mb(attachments + 1024 * 1024),
    batch: mb(attachments + 10 * 1024 * 1024),
  };
}
/** Postal's webhooks carry message metadata only, never a message: a few kB. */
export const WEBHOOK_BODY_LIMIT = '1mb';
/**
 * The inbound endpoint takes a whole raw message: a 10 MB message (the ARF parser's cap) is
 * about 13.6 MB as Ruby's line-wrapped base64 (RawMessage), a little more form-encoded.
 */
export const INBOUND_BODY_LIMIT = '16mb';
/** Form posts: the dashboard's forms and RFC 8058 one-click unsubscribe posts. */
export const FORM_LIMIT = '100kb';
export const WEBHOOK_PATH = '/api/v1/webhook';
export const INBOUND_PATH = '/api/v1/inbound/postal';
/** Routes whose signature is computed over the raw request bytes. */
export const RAW_BODY_ROUTES = [WEBHOOK_PATH, INBOUND_PATH];
/**
 * The only routes that take `application/x-www-form-urlencoded`: the dashboard's forms and
 * the unsubscribe form / RFC 8058 one-click post (`List-Unsubscribe=One-Click`). The inbound
 * endpoint decodes Postal's FormData itself from the raw bytes. Nothing under /api is parsed
 * as a form.
 */
export const FORM_ROUTES = ['/dashboard', '/unsubscribe'];
const HEALTH_PATHS = /^\/(api\/v1\/)?health(\/|$)/;

export type RequestWithRawBody = Request & { rawBody?: Buffer };

/**
 * HTTP → HTTPS in production; health probes over plain HTTP stay reachable. The target host
 * is PUBLIC_URL's, never the request's `Host` header (which the client chooses).
 */
function httpsRedirect(publicUrl: string) {
  const host = new URL(publicUrl).host;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.secure || HEALTH_PATHS.test(req.path)) return next();
    // `//evil.example` as the path would read as a host after `https:`; keep it a path.
    const path = req.originalUrl.replace(/^\/+/, '/');
    res.redirect(308, `https://${host}${path}`);
  };
}

/** Body-parser failures (malformed JSON, too large) in the API error shape, never a 500. */
function bodyErrorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const type = (err as { type?: string } | null)?.type;
  let mapped: Error | undefined;
  if (type === 'entity.too.large') {
    mapped = new PayloadTooLargeError(
      (err as { limit?: number }).limit !== undefined
        ? formatLimit((err as { limit: number }).limit)
        : JSON_LIMIT,
    );
  } else if (type === 'entity.parse.failed') {
    mapped = new ValidationFailedError('Malformed JSON in request body');
  } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    // A JSON body in a charset or content coding the parser does not take (RFC 9110 §15.5.16).
    mapped = new UnsupportedMediaTypeError(
      type === 'charset.unsupported'
        ? 'The request body must be UTF-8 JSON'
        : 'Unsupported Content-Encoding (identity, gzip, deflate or br only)',
    );
  } else if (
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

/** body-parser's byte limit back as the `1mb` spelling the routes are configured with. */
function formatLimit(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}mb`;
  if (bytes % 1024 === 0) return `${bytes / 1024}kb`;
  return `${bytes}b`;
}

/**
 * Refuses a request with 401 before a byte of its body is read, and closes the connection so
 * the unread body does not hold it (README: Security). The error shape is the API's.
 */
function refuseUnread(req: Request, res: Response, message: string): void {
  const { status, body } = toErrorBody(
    new UnauthorizedError(message),
    (req as RequestWithId).id ?? '',
  );
  res.setHeader('Connection', 'close');
  res.status(status).json(body);
}

/**
 * Postal's webhook: a request without `X-Postal-Signature-256` or `X-Postal-Signature` can
 * never verify (webhook-signature.verifier.ts), so it is refused unread; a signed one is read
 * up to WEBHOOK_BODY_LIMIT and verified over those raw bytes by the controller.
 */
function webhookBody(keepRaw: (req: Request, res: Response, buf: Buffer) => void) {
  const read = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT, verify: keepRaw });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST' || req.path !== '/') return next();
    if (!hasPostalSignatureHeader(req.headers)) {
      return refuseUnread(req, res, 'Missing Postal signature');
    }
    read(req, res, next);
  };
}

/**
 * The inbound endpoint: INBOUND_SECRET (path token or Basic auth) is checked from the URL and
 * headers; without it, only a request carrying a Postal signature is read (Postal signs its
 * HTTP endpoint requests too, `lib/postal/http.rb`). Everything else is refused unread.
 */
function inboundBody(
  secret: string | undefined,
  keepRaw: (req: Request, res: Response, buf: Buffer) => void,
) {
  const read = express.raw({ type: () => true, limit: INBOUND_BODY_LIMIT, verify: keepRaw });
  return (req: Request, res: Response, next: NextFunction): void => {
    const m = /^\/(?:([^/]+)\/?)?$/.exec(req.path);
    if (req.method !== 'POST' || !m) return next();
    let token: string | undefined;
    try {
      token = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    } catch {
      token = m[1];
    }
    if (
      !inboundSecretMatches(secret, token, req.headers.authorization) &&
      !hasPostalSignatureHeader(req.headers)
    ) {
      return refuseUnread(req, res, 'Missing inbound secret or Postal signature');
    }
    read(req, res, next);
  };
}

/**
 * Node's HTTP server limits (README: Security): a request must send its headers within
 * HTTP_HEADERS_TIMEOUT_MS and all of it within HTTP_REQUEST_TIMEOUT_MS (Node's defaults are
 * 60 s and 300 s), an idle keep-alive connection closes after HTTP_KEEP_ALIVE_TIMEOUT_MS.
 * Node enforces the first two on a periodic sweep; the sweep runs every second rather than
 * every 30 s, so a slow request is cut close to its deadline. Set before the server listens.
 */
export function configureServerTimeouts(app: NestExpressApplication, config: AppConfig): void {
  // connectionsCheckingInterval is read when the server starts listening (Node ≥ 18.12).
  const server = app.getHttpServer() as import('node:http').Server & {
    connectionsCheckingInterval: number;
  };
  server.requestTimeout = config.http.requestTimeoutMs;
  server.headersTimeout = config.http.headersTimeoutMs;
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  server.connectionsCheckingInterval = Math.min(
    1000,
    config.http.headersTimeoutMs,
    config.http.requestTimeoutMs,
  );
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
export function configureHttpEdge(
  app: NestExpressApplication,
  config: AppConfig,
  lanes: { access?: RequestHandler; webhook?: RequestHandler } = {},
): void {
  app.set('trust proxy', config.trustProxy);
  installClientAddress(app.getHttpAdapter().getInstance() as { request: object });
  app.disable('x-powered-by');
  app.use(requestIdMiddleware);
  // The access line and duration sample of every request, the edge's own answers included.
  if (lanes.access) app.use(lanes.access);
  if (config.isProduction) app.use(httpsRedirect(config.publicUrl));
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
      // The IETF RateLimit fields (README "API overview") and Retry-After are not CORS-safelisted.
      exposedHeaders: ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
      maxAge: 600,
    }),
  );
  const keepRaw = (req: Request, _res: Response, buf: Buffer): void => {
    (req as RequestWithRawBody).rawBody = buf;
  };
  // Per route, the limit it needs; unauthenticated webhook/inbound bodies are never read.
  app.use(WEBHOOK_PATH, webhookBody(keepRaw));
  // Postal's webhook, once read: the signed success is answered right here (src/modules/
  // webhooks/webhook-ingest-lane.ts, docs/ARCHITECTURE.md "The HTTP edge").
  if (lanes.webhook) app.use(WEBHOOK_PATH, lanes.webhook);
  app.use(INBOUND_PATH, inboundBody(config.postal.inboundSecret, keepRaw));
  const routed = app.getHttpAdapter().getInstance() as unknown as Parameters<
    typeof requireJsonBodies
  >[0];
  app.use(requireJsonBodies(routed, RAW_BODY_ROUTES));
  const sending = sendingBodyLimits(config.maxMessageBytes);
  app.use('/api/v1/batch', express.json({ limit: sending.batch, verify: scanForUnstorable }));
  app.use('/api/v1/send', express.json({ limit: sending.send, verify: scanForUnstorable }));
  app.use(express.json({ limit: JSON_LIMIT, verify: scanForUnstorable }));
  app.use(
    FORM_ROUTES,
    express.urlencoded({ extended: false, limit: FORM_LIMIT, verify: scanForUnstorable }),
  );
  configureServerTimeouts(app, config);
  app.use(bodyErrorHandler);
  app.use('/api', rejectUnstorableText);
  installMethodNotAllowed(app);
}
