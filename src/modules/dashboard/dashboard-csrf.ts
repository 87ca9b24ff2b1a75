import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ForbiddenError } from 'src/common/errors/app-error';
import { AppConfig } from 'src/config/app-config';
import { basicCredentials } from 'src/modules/dashboard/dashboard-http';

export const CSRF_COOKIE = 'dashboard_csrf';
export const CSRF_FIELD = '_csrf';
const SESSION_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * CSRF protection for the dashboard's forms: a signed double-submit token. Each browser gets a
 * random session value in an HttpOnly, SameSite=Strict cookie (path /dashboard); each form
 * carries HMAC(key, credentials ‖ session). A forged cross-site post has no cookie (SameSite)
 * and cannot compute the token (the key is derived from TRACKING_SECRET); a cookie planted by
 * a sibling site still lacks its token; a token stops working when the admin password changes.
 */
@Injectable()
export class DashboardCsrf {
  private readonly key: Buffer;

  constructor(private readonly config: AppConfig) {
    this.key = createHmac('sha256', config.tracking.secret).update('dashboard-csrf/v1').digest();
  }

  /** The token for this request's forms; sets the session cookie when there is none yet. */
  issue(req: Request, res: Response): string {
    let session = sessionOf(req);
    if (!session) {
      session = randomBytes(32).toString('base64url');
      res.cookie(CSRF_COOKIE, session, {
        path: '/dashboard',
        httpOnly: true,
        sameSite: 'strict',
        secure: req.secure || this.config.isProduction,
      });
    }
    return this.token(req, session);
  }

  /** The posted token matches this request's cookie and credentials (constant time). */
  verify(req: Request): boolean {
    const session = sessionOf(req);
    const posted = (req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD];
    if (!session || typeof posted !== 'string' || posted.length > 128) return false;
    const expected = this.token(req, session);
    const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(posted), digest(expected));
  }

  private token(req: Request, session: string): string {
    const principal = basicCredentials(req.headers.authorization) ?? '';
    return createHmac('sha256', this.key)
      .update(createHash('sha256').update(principal).digest())
      .update(session)
      .digest('base64url');
  }
}

/** The session cookie's value, when it has the shape we issue. */
function sessionOf(req: Request): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== CSRF_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (SESSION_PATTERN.test(value)) return value;
  }
  return null;
}

/** Every state-changing dashboard route: a post without a valid token is a 403. */
@Injectable()
export class DashboardCsrfGuard implements CanActivate {
  constructor(private readonly csrf: DashboardCsrf) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.csrf.verify(context.switchToHttp().getRequest<Request>())) return true;
    throw new ForbiddenError(
      'This form was missing a valid security token. Reload the page and try again.',
    );
  }
}
