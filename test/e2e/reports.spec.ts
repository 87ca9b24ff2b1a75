import request from 'supertest';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { bootTestApp, TestApp } from 'test/utils/test-app';

describe('reports API (e2e)', () => {
  let t: TestApp;
  let key: string;
  const ids: number[] = [];

  beforeAll(async () => {
    t = await bootTestApp({ RATE_LIMIT_IP_PER_MIN: '10000' });
    key = await t.createKey();
    const d = t.app.get(DiagnosticsService);
    for (const [i, severity] of (['warning', 'critical', 'warning', 'info'] as const).entries()) {
      const r = await d.upsertOpenReport({
        fingerprint: `test:${i}`,
        reportType: i === 1 ? 'ai_triggered' : 'hourly_check',
        severity,
        summary: `Report ${i}`,
        anomalies: [{ type: 'bounce_rate', value: 6 }],
        stats: { sent: 100 + i },
        recommendedActions: ['Do a thing'],
      });
      ids.push(r.id);
    }
  });
  afterAll(() => t.close());

  const get = (url: string, k = key) =>
    request(t.server).get(url).set('Authorization', `Bearer ${k}`);
  const post = (url: string, body: object = {}, k = key) =>
    request(t.server).post(url).set('Authorization', `Bearer ${k}`).send(body);

  it('lists newest first with filters and keyset pagination', async () => {
    const all = await get('/api/v1/reports').expect(200);
    expect(all.body.data.map((r: { id: number }) => r.id)).toEqual([...ids].reverse());
    expect(all.body.next_cursor).toBeNull();
    const warnings = await get('/api/v1/reports?severity=warning').expect(200);
    expect(warnings.body.data.map((r: { id: number }) => r.id)).toEqual([ids[2], ids[0]]);
    const ai = await get('/api/v1/reports?report_type=ai_triggered').expect(200);
    expect(ai.body.data).toHaveLength(1);
    const p1 = await get('/api/v1/reports?limit=3').expect(200);
    expect(p1.body.data).toHaveLength(3);
    const p2 = await get(`/api/v1/reports?limit=3&cursor=${p1.body.next_cursor}`).expect(200);
    expect(p2.body.data.map((r: { id: number }) => r.id)).toEqual([ids[0]]);
  });

  it('returns one report with every field', async () => {
    const res = await get(`/api/v1/reports/${ids[1]}`).expect(200);
    expect(res.body).toEqual({
      id: ids[1],
      report_type: 'ai_triggered',
      severity: 'critical',
      status: 'pending',
      summary: 'Report 1',
      root_cause: null,
      ai_analysis: null,
      recommended_actions: ['Do a thing'],
      should_pause_sending: false,
      urgency: null,
      anomalies: [{ type: 'bounce_rate', value: 6 }],
      stats: { sent: 101 },
      context: {},
      resolved_at: null,
      resolution_notes: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('acknowledges, then resolves with notes; both idempotent', async () => {
    const ack = await post(`/api/v1/reports/${ids[0]}/acknowledge`).expect(200);
    expect(ack.body.status).toBe('acknowledged');
    await post(`/api/v1/reports/${ids[0]}/acknowledge`).expect(200);
    const resolved = await post(`/api/v1/reports/${ids[0]}/resolve`, {
      notes: 'list cleaned',
    }).expect(200);
    expect(resolved.body).toEqual(
      expect.objectContaining({
        status: 'resolved',
        resolution_notes: 'list cleaned',
        resolved_at: expect.any(String),
      }),
    );
    // Acknowledging a resolved report does not reopen it.
    expect((await post(`/api/v1/reports/${ids[0]}/acknowledge`).expect(200)).body.status).toBe(
      'resolved',
    );
    expect(
      (await get('/api/v1/reports?status=resolved').expect(200)).body.data.map(
        (r: { id: number }) => r.id,
      ),
    ).toEqual([ids[0]]);
  });

  it('opens a new report for the same problem once the old one is resolved', async () => {
    const again = await t.app.get(DiagnosticsService).upsertOpenReport({
      fingerprint: 'test:0',
      reportType: 'hourly_check',
      severity: 'warning',
      summary: 'Again',
    });
    expect(again.created).toBe(true);
    expect(again.id).not.toBe(ids[0]);
  });

  it.each([
    ['/api/v1/reports?status=open'],
    ['/api/v1/reports?severity=high'],
    ['/api/v1/reports?limit=0'],
    ['/api/v1/reports?cursor=abc'],
  ])('rejects %s with 400', async (url) => {
    expect((await get(url).expect(400)).body.error.code).toBe('validation_error');
  });

  it('answers 404 for unknown or malformed ids and rejects bad bodies', async () => {
    await get('/api/v1/reports/999999').expect(404);
    await get('/api/v1/reports/abc').expect(404);
    await post('/api/v1/reports/99999999999/acknowledge').expect(404);
    await post(`/api/v1/reports/${ids[2]}/resolve`, { notes: 5 }).expect(400);
    await post(`/api/v1/reports/${ids[2]}/resolve`, { note: 'typo' }).expect(400);
  });

  it('needs a full-scope key', async () => {
    const send = await t.createKey('send');
    await get('/api/v1/reports', send).expect(403);
    await post(`/api/v1/reports/${ids[2]}/acknowledge`, {}, send).expect(403);
    await request(t.server).get('/api/v1/reports').expect(401);
  });
});
