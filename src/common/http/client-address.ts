import { isIP } from 'node:net';
import type { Request } from 'express';

type TrustFn = (addr: string, hop: number) => boolean;

/**
 * The client address as `req.ip` reports it: the socket peer, or — only while every hop so
 * far is a proxy trusted by TRUST_PROXY — the next address of `X-Forwarded-For`. A forwarded
 * value that is not an IP address ends the walk at the hop that sent it, so a made-up value
 * can never become a rate-limit or ban key (README "Security").
 */
export function clientAddress(req: Request): string {
  const peer = req.socket?.remoteAddress ?? '';
  const trust = req.app?.get('trust proxy fn') as TrustFn | undefined;
  const header = req.headers['x-forwarded-for'];
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  if (!trust || raw === '') return peer;
  // Nearest hop first, as proxy-addr walks them.
  const chain = [
    peer,
    ...raw
      .split(',')
      .map((s) => s.trim())
      .reverse(),
  ];
  let address = peer;
  for (let hop = 0; hop < chain.length - 1; hop++) {
    if (!isIP(chain[hop]) || !trust(chain[hop], hop)) break;
    const next = chain[hop + 1];
    if (!isIP(next)) break;
    address = next;
  }
  return address;
}

/** Makes `req.ip` of every request of this Express app use `clientAddress`. */
export function installClientAddress(expressApp: { request: object }): void {
  Object.defineProperty(expressApp.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: Request): string {
      return clientAddress(this);
    },
  });
}

/**
 * The route pattern Express matched (`/api/v1/status/:message_id`), or the raw path when no
 * route matched. Guards key on this, never on the URL as sent, so another spelling of a
 * path can never reach a route while skipping the checks meant for it.
 */
export function matchedRoute(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  return typeof route === 'string' ? `${req.baseUrl ?? ''}${route}` : req.path;
}

/** A credential was actually presented (a scheme and a value), not merely no header. */
export function presentsCredential(
  header: string | undefined,
  scheme: 'Basic' | 'Bearer',
): boolean {
  return new RegExp(`^${scheme}[ \\t]+\\S`, 'i').test(header ?? '');
}
