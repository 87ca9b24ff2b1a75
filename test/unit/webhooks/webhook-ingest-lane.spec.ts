import { Writable } from 'node:stream';
import express from 'express';
import { PinoLogger } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import { Registry, Histogram } from 'prom-client';
import request from 'supertest';
import { requestIdMiddleware } from 'src/common/http/request-id';
import { loadConfig } from 'src/config/app-config';
import { httpAccess } from 'src/infra/logging/http-access';
import { rootLoggerOptions } from 'src/infra/logging/logger-options';
import type { MetricsService } from 'src/infra/metrics/metrics.service';
import { webhookIngestLane } from 'src/modules/webhooks/webhook-ingest-lane';
import type { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import type { WebhooksService } from 'src/modules/webhooks/webhooks.service';

/**
 * The lane's access line and duration sample are the ones the edge's `httpAccess` gives the
 * route (docs/ARCHITECTURE.md "The HTTP edge"): both are written here through one root logger
 * with the app's options (built as nestjs-pino builds it) and compared field by field.
 */
describe('webhook ingest lane: access log and duration sample', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info' });
  const rootLog = pinoHttp({ ...rootLoggerOptions(config), stream: sink }).logger;
  const registry = new Registry();
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'h',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  let previousRoot: unknown;

  const app = express();
  app.set('strict routing', true);
  app.use(requestIdMiddleware);
  app.use(httpAccess({ httpDuration } as unknown as MetricsService));
  app.use(
    '/api/v1/webhook',
    express.raw({
      type: () => true,
      verify: (req, _res, buf) => {
        (req as { rawBody?: Buffer }).rawBody = buf;
      },
    }),
  );
  app.use(
    '/api/v1/webhook',
    webhookIngestLane({
      verifier: {
        verify: (raw: Buffer) =>
          Promise.resolve(
            raw.includes('"good"')
              ? { ok: true, method: 'rsa-sha256' }
              : { ok: false, reason: 'invalid' },
          ),
      } as unknown as WebhookSignatureVerifier,
      webhooks: {
        receive: () => Promise.resolve({ duplicate: false }),
      } as unknown as WebhooksService,
    }),
  );
  // The route the lane hands everything else to.
  app.post('/api/v1/webhook', (_req, res) => {
    res.status(401).json({ route: true });
  });

  beforeAll(() => {
    previousRoot = PinoLogger.root;
    Object.defineProperty(PinoLogger, 'root', { value: rootLog, configurable: true });
  });
  afterAll(() => {
    Object.defineProperty(PinoLogger, 'root', { value: previousRoot, configurable: true });
  });

  const body = (signature: string) =>
    JSON.stringify({ uuid: 'u-1', event: 'MessageSent', payload: { signature } });
  const shape = (line: Record<string, unknown>) => {
    const { time: _t, responseTime, pid: _p, req, res, ...rest } = line;
    const { id, ...reqRest } = req as Record<string, unknown>;
    return { rest, req: reqRest, res, id, responseTime: typeof responseTime };
  };

  it("writes the route's line and duration sample (same keys and values but the status)", async () => {
    const send = (signature: string) =>
      request(app)
        .post('/api/v1/webhook')
        .set('Content-Type', 'application/json')
        .set('User-Agent', 'Postal/3.3')
        .set('Referer', 'https://postal.example/')
        .send(body(signature));
    const lane = await send('good').expect(200, { status: 'ok' });
    const route = await send('badd').expect(401, { route: true });
    await new Promise((resolve) => setImmediate(resolve));

    expect(lines).toHaveLength(2);
    const [fromLane, fromRoute] = lines.map(shape);
    expect(fromLane.id).toBe(lane.headers['x-request-id']);
    expect(fromRoute.id).toBe(route.headers['x-request-id']);
    expect(fromLane.req).toEqual(fromRoute.req);
    expect(fromLane.req).toMatchObject({
      method: 'POST',
      url: '/api/v1/webhook',
      user_agent: 'Postal/3.3',
    });
    expect(fromLane.rest).toEqual(fromRoute.rest);
    expect(fromLane.rest.msg).toBe('request completed');
    expect(fromLane.responseTime).toBe('number');
    expect(fromLane.res).toEqual({ statusCode: 200 });
    expect(fromRoute.res).toEqual({ statusCode: 401 });
    expect(Object.keys(lines[0])).toEqual(Object.keys(lines[1]));

    const samples = (await registry.getMetricsAsJSON())[0].values.filter(
      (v) => (v as { metricName?: string }).metricName === 'http_request_duration_seconds_count',
    );
    expect(samples).toEqual([
      expect.objectContaining({
        labels: { method: 'POST', route: '/api/v1/webhook', status: '200' },
        value: 1,
      }),
      expect.objectContaining({
        labels: { method: 'POST', route: '/api/v1/webhook', status: '401' },
        value: 1,
      }),
    ]);
  });
});
