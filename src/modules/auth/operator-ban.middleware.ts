import type { NextFunction, Request, Response } from 'express';
import { presentsCredential } from 'src/common/http/client-address';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';

/** The operator pages behind Basic auth. */
export const OPERATOR_PATHS = ['/dashboard', '/queues'];

/**
 * Brute-force protection for the operator pages (/dashboard, /queues, and in production /docs
 * and /metrics): a wrong Basic-auth password (or metrics token) counts towards the same
 * per-IP ban as a wrong API key, and a banned IP gets 403 before its credentials are even
 * looked at. A request without credentials (a browser's first visit, answered 401 to ask for
 * them; an `<img>` on another site) is not a failure (README "Security").
 */
export function operatorBanMiddleware(bans: AuthBanService) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const ip = req.ip ?? 'unknown';
    bans.banSecondsLeft(ip).then(
      (left) => {
        if (left > 0) {
          res.setHeader('Retry-After', String(left));
          res.status(403).type('text/plain').send('Blocked after repeated failed logins');
          return;
        }
        const header = req.headers.authorization;
        if (presentsCredential(header, 'Basic') || presentsCredential(header, 'Bearer')) {
          res.once('finish', () => {
            if (res.statusCode === 401) void bans.recordFailure(ip);
          });
        }
        next();
      },
      // banSecondsLeft fails open by itself; this only guards against the unexpected.
      () => next(),
    );
  };
}
