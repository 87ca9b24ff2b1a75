import request from 'supertest';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('operations endpoints (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp({ ADMIN_USERNAME: 'ops', ADMIN_PASSWORD: 'secret-pass' });
  });
  afterAll(() => t.close());

  const basic = (u: string, p: string): string =>
    `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

  describe('health', () => {
    it('reports database, redis and queues up', async () => {
      for (const path of ['/health', '/api/v1/health']) {
        const res = await request(t.server).get(path).expect(200);
        expect(res.body.status).toBe('ok');
        expect(res.body.info.database.status).toBe('up');
        expect(res.body.info.redis.status).toBe('up');
        expect(res.body.info.queues.status).toBe('up');
        expect(res.body.info.queues['email-delivery']).toEqual(
          expect.objectContaining({ waiting: expect.any(Number), active: expect.any(Number) }),
        );
      }
    });

    it('answers liveness without touching dependencies', async () => {
      await request(t.server).get('/health/live').expect(200, { status: 'ok' });
    });
  });

  describe('/queues (Bull Board)', () => {
    it('needs Basic auth', async () => {
      const none = await request(t.server).get('/queues').expect(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic /);
      await request(t.server)
        .get('/queues')
        .set('Authorization', basic('ops', 'wrong'))
        .expect(401);
      await request(t.server)
        .get('/queues')
        .set('Authorization', basic('admin', 'secret-pass'))
        .expect(401);
    });

    it('serves the board and its queue API with the right credentials', async () => {
      const page = await request(t.server)
        .get('/queues')
        .set('Authorization', basic('ops', 'secret-pass'));
      expect(page.status).toBe(200);
      expect(page.text).toContain('<html');
      const api = await request(t.server)
        .get('/queues/api/queues')
        .set('Authorization', basic('ops', 'secret-pass'))
        .expect(200);
      const names = (api.body.queues as Array<{ name: string }>).map((q) => q.name).sort();
      expect(names).toEqual([
        'analytics',
        'domains',
        'email-delivery',
        'event-webhooks',
        'webhooks',
      ]);
    });
  });

  describe('/docs', () => {
    it('serves Swagger UI from local assets (no CDN)', async () => {
      const res = await request(t.server).get('/docs').redirects(1).expect(200);
      expect(res.text).toContain('swagger-ui');
      expect(res.text).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
      await request(t.server).get('/docs/swagger-ui-bundle.js').expect(200);
    });

    it('publishes the OpenAPI document with the bearer scheme and the error shape', async () => {
      const res = await request(t.server).get('/docs-json').expect(200);
      expect(res.body.openapi).toMatch(/^3\./);
      expect(res.body.components.securitySchemes.bearer).toEqual(
        expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      );
      expect(res.body.paths['/api/v1/status/{message_id}']).toBeDefined();
      expect(res.body.paths['/health']).toBeDefined();
      expect(res.body.components.schemas.ErrorResponseDto).toBeDefined();
      const notFound = res.body.paths['/api/v1/status/{message_id}'].get.responses['404'];
      expect(JSON.stringify(notFound)).toContain('ErrorResponseDto');
    });
  });

  describe('/metrics', () => {
    it('exposes the HTTP duration histogram by route and status, queue depths and process metrics', async () => {
      await request(t.server).get('/health/live').expect(200);
      await request(t.server).get('/api/v1/status/abc').expect(401);
      const res = await request(t.server).get('/metrics').expect(200);
      expect(res.headers['content-type']).toContain('text/plain');
      expect(res.text).toContain('# TYPE http_request_duration_seconds histogram');
      expect(res.text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} \d+/,
      );
      expect(res.text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/status\/:message_id",status="401"\} \d+/,
      );
      expect(res.text).toMatch(/queue_jobs\{queue="email-delivery",state="waiting"\} \d+/);
      expect(res.text).toContain('process_resident_memory_bytes');
    });
  });
});
