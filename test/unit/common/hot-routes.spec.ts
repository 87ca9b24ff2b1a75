import { Logger } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import express, { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { HOT_ROUTE_PATHS, HotRoutesFirst, moveHotRoutesFirst } from 'src/common/http/hot-routes';
import { methodNotAllowedHandler } from 'src/common/http/method-routing';

type Traced = Request & { trail?: string[] };
type Layer = { route?: { path: string; methods: Record<string, boolean> } };
type Routed = express.Express;
const stackOf = (app: Routed): Layer[] =>
  (app as unknown as { router: { stack: Layer[] } }).router.stack;

const mark =
  (name: string) =>
  (req: Request, _res: Response, next: NextFunction): void => {
    (req as Traced).trail = [...((req as Traced).trail ?? []), name];
    next();
  };

const reply =
  (name: string) =>
  (req: Request, res: Response): void => {
    res.json({
      route: name,
      params: req.params,
      baseUrl: req.baseUrl,
      url: req.url,
      trail: (req as Traced).trail,
    });
  };

/**
 * Routing as `createExpressInstance` sets it (case-sensitive, strict), with what stands in front
 * of the hot routes in the real app: middleware at `/` and `/api`, a middleware at the route's
 * own path, a parameter route that also takes it, catch-alls, a mounted router, and the 405
 * and 404 handlers behind.
 */
function syntheticApp(settings: { strict: boolean } = { strict: true }): Routed {
  const app = express();
  app.set('case sensitive routing', settings.strict);
  app.set('strict routing', settings.strict);
  app.use(mark('root'));
  app.use('/api', mark('api'));
  app.use('/api/v1/send', (req, _res, next) =>
    mark(`send-mw ${req.baseUrl} ${req.url}`)(req, _res, next),
  );
  app.get('/api/v1/:x', reply('GET /api/v1/:x'));
  app.get('/dashboard', reply('GET /dashboard'));
  app.get('/dashboard/:page', reply('GET /dashboard/:page'));
  app.post('/dashboard/:page', reply('POST /dashboard/:page'));
  app.all('/dashboard/*path', reply('ALL /dashboard/*path'));
  const queues = express.Router();
  queues.get('/', reply('GET /queues/'));
  app.use('/queues', queues);
  // A route for every method that passes the request on: Nest's `forRoutes()` middleware.
  app.all('/api{/*rest}', mark('every /api route'));
  app.get('/metrics', reply('GET /metrics'));
  app.post('/api/v1/send', reply('POST /api/v1/send'));
  app.post('/api/v1/batch', reply('POST /api/v1/batch'));
  app.get('/api/v1/status/:id', reply('GET /api/v1/status/:id'));
  app.get('/health/live', reply('GET /health/live'));
  app.post('/api/v1/webhook', reply('POST /api/v1/webhook'));
  app.post('/api/v1/:x', reply('POST /api/v1/:x'));
  app.use(methodNotAllowedHandler(app as unknown as Parameters<typeof methodNotAllowedHandler>[0]));
  app.use((req: Request, res: Response) => {
    res.status(404).json({ route: null, trail: (req as Traced).trail });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(400).json({ error: err.message });
  });
  return app;
}

const PATHS = [
  '/',
  '/api/v1/send',
  '/api/v1/batch',
  '/api/v1/webhook',
  '/health/live',
  '/api/v1/send/',
  '/API/v1/send',
  '/api/v1/Send',
  '/api/v1/%73end',
  '/api/v1/sendx',
  '/api/v1/send/extra',
  '/api/v1/other',
  '/api/v1/%E0',
  '/api/v1/status/1',
  '/dashboard',
  '/dashboard/logs',
  '/dashboard/a/b',
  '/queues',
  '/queues/',
  '/metrics',
  '/health/live/',
  '/Health/live',
  '/nothing',
];
const METHODS = ['get', 'post', 'put', 'delete', 'head', 'options'] as const;

/** Every answer the app gives, headers included (but the date). */
async function answers(app: Routed): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const path of PATHS) {
    for (const method of METHODS) {
      const res = await request(app)[method](path);
      const headers: Record<string, unknown> = { ...res.headers };
      delete headers.date;
      out[`${method.toUpperCase()} ${path}`] = { status: res.status, text: res.text, headers };
    }
  }
  return out;
}

const indexOf = (app: Routed, method: string, path: string): number =>
  stackOf(app).findIndex((l) => l.route?.path === path && l.route.methods[method]);

describe('moveHotRoutesFirst (docs/ARCHITECTURE.md "Route order")', () => {
  it('moves the hot routes earlier and every request gets the same answer as before', async () => {
    const app = syntheticApp();
    const before = await answers(app);
    // The table exercises what it claims: middleware in front, the parameter route, 405, 404.
    expect(JSON.parse((before['POST /api/v1/send'] as { text: string }).text)).toEqual(
      expect.objectContaining({
        route: 'POST /api/v1/send',
        trail: ['root', 'api', 'send-mw /api/v1/send /', 'every /api route'],
      }),
    );
    expect(JSON.parse((before['GET /api/v1/send'] as { text: string }).text).route).toBe(
      'GET /api/v1/:x',
    );
    expect(before['PUT /api/v1/send']).toEqual(
      expect.objectContaining({
        status: 405,
        headers: expect.objectContaining({ allow: 'GET, HEAD, POST' }),
      }),
    );
    expect((before['POST /API/v1/send'] as { status: number }).status).toBe(404);
    expect((before['GET /api/v1/%E0'] as { status: number }).status).toBe(400);

    const registered = Object.fromEntries(
      ['/api/v1/send', '/api/v1/batch', '/api/v1/webhook'].map((p) => [p, indexOf(app, 'post', p)]),
    );
    const live = indexOf(app, 'get', '/health/live');
    const result = moveHotRoutesFirst(app.router, HOT_ROUTE_PATHS);

    // Right after the last layer that takes its path — the route for every method at
    // `/api{/*rest}`, and before it `/api/v1/:x` and the middleware at `/`, `/api` and
    // `/api/v1/send` — or the hot route before it.
    const every = stackOf(app).findIndex((l) => l.route?.path === '/api{/*rest}');
    expect(result).toEqual({
      kept: [],
      moved: [
        { route: 'POST /api/v1/send', from: registered['/api/v1/send'], to: every + 1 },
        { route: 'POST /api/v1/batch', from: registered['/api/v1/batch'], to: every + 2 },
        { route: 'POST /api/v1/webhook', from: registered['/api/v1/webhook'], to: every + 3 },
        { route: 'GET /health/live', from: live, to: every + 4 },
      ],
    });
    for (const move of (result as { moved: Array<{ from: number; to: number }> }).moved) {
      expect(move.to).toBeLessThan(move.from);
    }

    expect(await answers(app)).toEqual(before);
  });

  it('puts a route outside /api in front of the middleware at /api, behind the one at /', async () => {
    const app = syntheticApp();
    const before = await answers(app);
    const live = indexOf(app, 'get', '/health/live');
    expect(moveHotRoutesFirst(app.router, ['/health/live'])).toEqual({
      kept: [],
      moved: [{ route: 'GET /health/live', from: live, to: 1 }],
    });
    expect(await answers(app)).toEqual(before);
  });

  it('changes nothing the second time', () => {
    const app = syntheticApp();
    moveHotRoutesFirst(app.router, HOT_ROUTE_PATHS);
    const order = [...stackOf(app)];
    expect(moveHotRoutesFirst(app.router, HOT_ROUTE_PATHS)).toEqual({ moved: [], kept: [] });
    expect(stackOf(app)).toEqual(order);
  });

  it('keeps a route in place when routing is not strict and case-sensitive', async () => {
    const app = syntheticApp({ strict: false });
    const order = [...stackOf(app)];
    const result = moveHotRoutesFirst(app.router, ['/api/v1/send']);
    expect(result).toEqual({ moved: [], kept: ['POST /api/v1/send'] });
    expect(stackOf(app)).toEqual(order);
  });

  it('leaves a router that does not look like router@2 untouched', () => {
    expect(moveHotRoutesFirst(undefined, HOT_ROUTE_PATHS)).toEqual({
      skipped: 'the Express router has no layer stack',
    });
    expect(moveHotRoutesFirst({ stack: 'x' }, HOT_ROUTE_PATHS)).toHaveProperty('skipped');
    const stack = [{ route: { path: '/api/v1/send' } }, { match: () => false }];
    expect(moveHotRoutesFirst({ stack }, HOT_ROUTE_PATHS)).toEqual({
      skipped: 'a layer of the Express router has no match()',
    });
    expect(stack[0]).toEqual({ route: { path: '/api/v1/send' } });
  });

  it('refuses a path that is not literal', () => {
    for (const path of ['/api/v1/:x', '/api/*rest', '/api{/v1}', 'api/v1/send', '/api/v1/send/']) {
      expect(() => moveHotRoutesFirst(syntheticApp().router, [path])).toThrow(TypeError);
    }
  });

  it('HotRoutesFirst warns once and carries on when the app has no Express router', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const host = { httpAdapter: { getInstance: () => ({}) } } as unknown as HttpAdapterHost;
      expect(() => new HotRoutesFirst(host).onApplicationBootstrap()).not.toThrow();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toContain('no layer stack');
    } finally {
      warn.mockRestore();
    }
  });
});
