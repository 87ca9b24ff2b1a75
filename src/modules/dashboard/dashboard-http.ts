import type { NextFunction, Request, Response } from 'express';

/**
 * The dashboard's Content-Security-Policy: nothing runs (no script-src at all, so no script of
 * any origin), styles only from our stylesheet, images only inline `data:`, forms only to us,
 * no frames but `srcdoc` ones (which need no fetch), never framed itself. The message page adds
 * the hashes of the previewed email's own inline styles (see email-preview.ts).
 */
export function dashboardCsp(styleHashes: readonly string[] = [], ownImages = false): string {
  const styles = ["'self'", ...(styleHashes.length > 0 ? ["'unsafe-hashes'", ...styleHashes] : [])];
  return [
    "default-src 'none'",
    `style-src ${styles.join(' ')}`,
    // A sandbox message's inline images come from /dashboard/logs/:id/attachments/:n.
    ownImages ? "img-src data: 'self'" : 'img-src data:',
    "form-action 'self'",
    "frame-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * Headers of every /dashboard response (401s and error pages included). Helmet has already
 * set the app-wide ones (nosniff, referrer policy, …); these replace its CSP and framing rule
 * with stricter ones and keep operator pages out of every cache.
 */
export function dashboardSecurityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', dashboardCsp());
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}

/**
 * The credentials of a request that passed Basic auth, as `user:password` (what the CSRF
 * token is bound to: a new password invalidates every token). Null without Basic auth.
 */
export function basicCredentials(header: string | undefined): string | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  return match ? Buffer.from(match[1], 'base64').toString('utf8') : null;
}
