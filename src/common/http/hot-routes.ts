import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/**
 * The literal routes most requests go to (docs/ARCHITECTURE.md "Route order"): sending, Postal's
 * webhook and the liveness probe. Their route layers are tried in this order, as early in the
 * Express router as they can be without changing what any request gets.
 */
export const HOT_ROUTE_PATHS: readonly string[] = [
  '/api/v1/send',
  '/api/v1/batch',
  '/api/v1/webhook',
  '/health/live',
];

/** A path without parameters, wildcards or anything else path-to-regexp reads as syntax. */
const LITERAL_PATH = /^(?:\/[A-Za-z0-9._~-]+)+$/;

/**
 * A layer of the Express router as router@2 keeps it (node_modules/router/lib/layer.js):
 * `match(path)` is `false` for a path the layer does not take, `route` is set on the layers
 * `app.get()`/`app.post()`/… create (and is that route, `route.path` its pattern).
 */
interface RouterLayer {
  match(path: string): unknown;
  route?: { path?: unknown; methods?: Record<string, unknown> };
}

export interface HotRouteMove {
  /** `POST /api/v1/send` */
  route: string;
  /** Its index in the stack as registered. */
  from: number;
  /** Its index once the hot routes are moved. */
  to: number;
}

export type HotRoutesResult = { moved: HotRouteMove[]; kept: string[] } | { skipped: string };

function isLayer(layer: unknown): layer is RouterLayer {
  return (
    typeof layer === 'object' &&
    layer !== null &&
    typeof (layer as { match?: unknown }).match === 'function'
  );
}

/** Whether the router would try `layer` for `path`; a matcher that throws counts as a match. */
function takes(layer: RouterLayer, path: string): boolean {
  try {
    return layer.match(path) !== false;
  } catch {
    return true;
  }
}

/** `/API/V1/SEND` for `/api/v1/send`: a spelling a case-sensitive matcher must refuse. */
function otherCase(path: string): string {
  return [...path].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
}

function describeRoute(layer: RouterLayer, path: string): string {
  const methods = Object.keys(layer.route?.methods ?? {}).map((m) =>
    m === '_all' ? 'ALL' : m.toUpperCase(),
  );
  return `${methods.join(',')} ${path}`;
}

/**
 * Moves the route layers of `paths` (literal paths) earlier in an Express router's stack, each
 * to just after the last earlier layer that takes its path or the hot layer moved before it, so
 * they keep the order of `paths`.
 *
 * Why no request's outcome changes: the router walks the stack in order and, for a request,
 * only ever consults the layers that take its path (node_modules/router/index.js `next`). A
 * moved layer takes exactly its literal path — checked here: it takes the path, but neither
 * the path with a trailing slash nor in another case, as strict case-sensitive routing has it
 * (`createExpressInstance`; path-to-regexp compares the raw path, so `/api/v1/%73end` is not
 * it either) — so for any other path the layers it takes keep their order; for
 * its own path, every layer it jumps over does not take that path, so those keep their order
 * too. Middleware mounted at `/` or `/api`, and routes such as `/api/v1/:x`, take the path and
 * stay before it. This holds while no handler rewrites `req.url` and passes the request on
 * (the router itself restores a mounted middleware's URL; nothing in this app rewrites it).
 *
 * Fail-safe: a router that does not look like router@2's (no `stack` array, a layer without
 * `match`) is left untouched and the reason returned; a route whose layer also takes other
 * spellings of its path (routing not strict and case-sensitive) is kept where it is.
 */
export function moveHotRoutesFirst(router: unknown, paths: readonly string[]): HotRoutesResult {
  for (const path of paths) {
    if (!LITERAL_PATH.test(path)) throw new TypeError(`Not a literal route path: ${path}`);
  }
  const stack = (router as { stack?: unknown } | null | undefined)?.stack;
  if (!Array.isArray(stack)) return { skipped: 'the Express router has no layer stack' };
  if (!stack.every(isLayer)) return { skipped: 'a layer of the Express router has no match()' };
  const layers = stack as RouterLayer[];
  const registered = new Map(layers.map((layer, i) => [layer, i]));
  const placed = new Set<RouterLayer>();
  const moving: Array<{ layer: RouterLayer; path: string }> = [];
  const kept: string[] = [];
  for (const path of paths) {
    for (const layer of layers.filter((l) => l.route?.path === path)) {
      placed.add(layer);
      if (!takes(layer, path) || takes(layer, `${path}/`) || takes(layer, otherCase(path))) {
        kept.push(describeRoute(layer, path));
        continue;
      }
      const from = layers.indexOf(layer);
      // Never past a layer that takes the path, nor past a hot layer placed before this one
      // (so the hot layers keep the order of `paths`).
      let to = from;
      while (to > 0 && !takes(layers[to - 1], path) && !placed.has(layers[to - 1])) to--;
      if (to === from) continue;
      layers.splice(from, 1);
      layers.splice(to, 0, layer);
      moving.push({ layer, path });
    }
  }
  const moved = moving.map(({ layer, path }) => ({
    route: describeRoute(layer, path),
    from: registered.get(layer)!,
    to: layers.indexOf(layer),
  }));
  return { moved, kept };
}

/**
 * Runs `moveHotRoutesFirst` on the app's router once every route is registered: Nest calls
 * `onApplicationBootstrap` after the routes, its 404 and error handlers (and our 405 handler
 * before them, method-routing.ts), and before `listen()` serves a request
 * (docs/ARCHITECTURE.md "Route order").
 */
@Injectable()
export class HotRoutesFirst implements OnApplicationBootstrap {
  private readonly logger = new Logger(HotRoutesFirst.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    const instance = this.adapterHost.httpAdapter?.getInstance?.() as
      { router?: unknown } | undefined;
    const result = moveHotRoutesFirst(instance?.router, HOT_ROUTE_PATHS);
    if ('skipped' in result) {
      this.logger.warn(`Route order left as registered: ${result.skipped}`);
      return;
    }
    if (result.kept.length > 0) {
      this.logger.warn(
        `Route order: ${result.kept.join(', ')} kept in place (routing is not strict and case-sensitive)`,
      );
    }
    this.logger.debug(
      `Route order: ${result.moved.map((m) => `${m.route} ${m.from} → ${m.to}`).join(', ') || 'unchanged'}`,
    );
  }
}
