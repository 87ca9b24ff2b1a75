import type { NextFunction, Request, Response } from 'express';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { ForbiddenError } from 'src/common/errors/app-error';
import type { RequestWithId } from 'src/common/http/request-id';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function hostOf(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host.toLowerCase() : null;
  } catch {
    return null;
  }
}

/**
 * Whether a state-changing request comes from a page of this very site. A browser says so
 * with `Sec-Fetch-Site` (modern ones) or `Origin`; a request with neither is not a browser's
 * cross-site form post (curl, scripts) and passes, as Basic auth still applies.
 */
export function isSameOriginRequest(req: Request, publicUrl: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = hostOf(origin);
  if (!host) return false;
  return host === String(req.headers.host ?? '').toLowerCase() || host === hostOf(publicUrl);
}

/**
 * CSRF protection for Basic-auth'd pages without a form token of their own (Bull Board at
 * /queues): a browser keeps sending the operator's Basic credentials cross-site, so any
 * state-changing request from another site is refused with 403 (README "Security").
 */
export function sameOriginWritesOnly(publicUrl: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method) || isSameOriginRequest(req, publicUrl)) return next();
    const { status, body } = toErrorBody(
      new ForbiddenError('Cross-site requests may not change anything here'),
      (req as RequestWithId).id ?? '',
    );
    res.status(status).json(body);
  };
}
