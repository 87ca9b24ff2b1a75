import { METHODS } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { MethodNotAllowedError, UnsupportedMediaTypeError } from 'src/common/errors/app-error';
import type { RequestWithId } from 'src/common/http/request-id';

/** A route layer of the Express router as router@2 keeps it. */
interface RouteLayer {
  route?: { methods: Record<string, boolean | undefined> };
  matchers?: Array<(path: string) => unknown>;
}

type RoutedApp = { router: { stack: RouteLayer[] } };

/**
 * The methods the app's routes answer at `path` (HEAD wherever GET is), sorted; empty when no
 * route has this path, null when a catch-all route takes every method. Matched with the
 * router's own matchers, so case-sensitive strict routing holds here too: `/API/v1/send` or
 * `/api/v1/send/` has no methods. A route bound to every method is Nest's way of mounting a
 * middleware (`forRoutes('*')`), not an endpoint: it names no method of its own.
 */
export function allowedMethods(app: RoutedApp, path: string): string[] | null {
  const methods = new Set<string>();
  for (const layer of app.router.stack) {
    if (!layer.route || !layer.matchers?.some((match) => match(path) !== false)) continue;
    const own = Object.entries(layer.route.methods).filter(([, on]) => on);
    if (own.length >= METHODS.length) continue;
    for (const [name] of own) {
      if (name === '_all') return null;
      methods.add(name.toUpperCase());
    }
    if (methods.has('GET')) methods.add('HEAD');
  }
  return [...methods].sort();
}

function send(req: Request, res: Response, error: Error): void {
  const { status, body } = toErrorBody(error, (req as RequestWithId).id ?? '');
  res.status(status).json(body);
}

/**
 * After every route: a path some route has, asked with a method none of them takes, is a 405
 * naming the methods in `Allow` (RFC 9110 §15.5.6), in the API's error shape; a path no route
 * has goes on to the 404 (README "API overview").
 */
export function methodNotAllowedHandler(app: RoutedApp) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'OPTIONS') return next();
    const allow = allowedMethods(app, req.path);
    if (allow === null || allow.length === 0 || allow.includes(req.method)) return next();
    res.setHeader('Allow', allow.join(', '));
    send(req, res, new MethodNotAllowedError(req.method, allow));
  };
}

/**
 * Registers `methodNotAllowedHandler` behind the routes and ahead of Nest's 404 handler: Nest
 * adds that handler once every route is registered, so the 405 check goes in just before it.
 */
export function installMethodNotAllowed(app: NestExpressApplication): void {
  const adapter = app.getHttpAdapter();
  const routed = adapter.getInstance() as unknown as RoutedApp;
  const setNotFoundHandler = adapter.setNotFoundHandler?.bind(adapter);
  if (!setNotFoundHandler) return;
  const handler = methodNotAllowedHandler(routed);
  adapter.setNotFoundHandler = (...args: Parameters<typeof setNotFoundHandler>): unknown => {
    app.use(handler);
    return setNotFoundHandler(...args);
  };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * JSON routes take `application/json` only (README "API overview"): a body of any other type
 * (a form, text, XML, no type at all) sent to an /api route that exists with that method is a
 * 415 unsupported_media_type, not a field error about a body that was never parsed. A request
 * with no body passes (a bodiless POST such as `…/acknowledge`); `rawBodyRoutes` (Postal's
 * webhook and inbound endpoint) read their bodies themselves. The body is never read: the
 * connection closes after the answer.
 */
export function requireJsonBodies(app: RoutedApp, rawBodyRoutes: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!BODY_METHODS.has(req.method) || !req.path.startsWith('/api/')) return next();
    if (rawBodyRoutes.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    const length = req.headers['content-length'];
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || req.is('application/json') === 'application/json') return next();
    // An unknown path or another method answers 404 / 405 as it would with a JSON body.
    if (!allowedMethods(app, req.path)?.includes(req.method)) return next();
    const type = req.headers['content-type'];
    res.setHeader('Connection', 'close');
    send(
      req,
      res,
      new UnsupportedMediaTypeError(
        type
          ? `The request body must be application/json, not ${type.split(';')[0].trim().slice(0, 100)}`
          : 'The request body must be application/json (no Content-Type was given)',
      ),
    );
  };
}
