import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { AnomalyDetectorService } from 'src/modules/diagnostics/anomaly-detector.service';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { FakeAnthropic } from 'test/fakes/fake-anthropic';
import { FakeSlack } from 'test/fakes/fake-slack';
import { FakeTelegram } from 'test/fakes/fake-telegram';
import { makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

interface Row {
  domain: string | null;
  sent: number;
  delivered: number;
  hard?: number;
  soft?: number;
  complained?: number;
}

describe('anomaly detection, AI diagnosis and alerts', () => {
  let t: TestApp;
  let anthropic: FakeAnthropic;
  let slack: FakeSlack;
  let telegram: FakeTelegram;
  let detector: AnomalyDetectorService;
  let hourOffset = 100;

  beforeAll(async () => {
    anthropic = await new FakeAnthropic().start();
    slack = await new FakeSlack().start();
    telegram = await new FakeTelegram().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      ANTHROPIC_API_KEY: anthropic.apiKey,
      ANTHROPIC_BASE_URL: anthropic.url,
      ...slack.env(),
      ...telegram.env(),
      ANOMALY_MIN_VOLUME: '100',
    });
    detector = t.app.get(AnomalyDetectorService);
  });
  afterAll(async () => {
    await t.close();
    await Promise.all([anthropic.stop(), slack.stop(), telegram.stop()]);
  });

  /** A fresh past hour with these stored hourly_stats rows. */
  async function seedHour(rows: Row[]): Promise<Date> {
    hourOffset += 1;
    const hour = new Date(Math.floor(Date.now() / 3600e3) * 3600e3 - hourOffset * 3600e3);
    for (const r of rows) {
      await t.dataSource.query(
        `INSERT INTO hourly_stats (hour, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked,
                                   delivery_rate, bounce_rate, complaint_rate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0, 0, 0)`,
        [hour, r.domain, r.sent, r.delivered, r.hard ?? 0, r.soft ?? 0, r.complained ?? 0],
      );
    }
    return hour;
  }

  const reports = (fingerprint: string) =>
    t.dataSource.query(`SELECT * FROM diagnostic_reports WHERE fingerprint = $1 ORDER BY id`, [
      fingerprint,
    ]);

  async function resolveAll(): Promise<void> {
    await t.dataSource.query(
      `UPDATE diagnostic_reports SET status = 'resolved' WHERE status <> 'resolved'`,
    );
  }

  it('raises nothing below ANOMALY_MIN_VOLUME, however bad the rates', async () => {
    const hour = await seedHour([
      { domain: null, sent: 99, delivered: 10, hard: 80, complained: 5 },
    ]);
    await expect(detector.check(hour)).resolves.toEqual(
      expect.objectContaining({ outcome: 'none' }),
    );
  });

  it('does not flag webhook lag: unknown outcomes are not delivery failures', async () => {
    const hour = await seedHour([{ domain: null, sent: 1000, delivered: 300 }]);
    await expect(detector.check(hour)).resolves.toEqual(
      expect.objectContaining({ outcome: 'none', sent: 1000 }),
    );
  });

  it('one warning → an hourly_check report with rule-based advice and one alert; a repeat check updates it', async () => {
    await resolveAll();
    const before = slack.delivered.length;
    // 5 % bounced: a warning; delivery among known outcomes stays at 95 % (not below).
    const hour = await seedHour([{ domain: null, sent: 1000, delivered: 950, hard: 50 }]);
    const r = await detector.check(hour);
    expect(r.outcome).toBe('rule_report');
    const [report] = await reports('hourly_check:bounce_rate:all');
    expect(report).toEqual(
      expect.objectContaining({
        report_type: 'hourly_check',
        severity: 'warning',
        status: 'pending',
        summary: 'Bounce rate is 5 % (warning at 5 %)',
      }),
    );
    expect(report.recommended_actions.length).toBeGreaterThan(0);
    expect(report.stats).toEqual(expect.objectContaining({ sent: 1000, bounce_rate: 5 }));
    await t.app.get(NotificationsService).whenIdle();
    const alerts = slack.delivered.slice(before);
    expect(alerts).toHaveLength(1);
    const attachment = (alerts[0].body.attachments as Array<Record<string, unknown>>)[0];
    expect(attachment.title).toBe('Bounce rate is 5 % (warning at 5 %)');
    expect(attachment.color).toBe('#f79009');
    expect(telegram.delivered.length).toBeGreaterThan(0);

    // The next hour with the same anomaly updates the open report, alerting nothing new.
    const next = await seedHour([{ domain: null, sent: 1000, delivered: 950, hard: 50 }]);
    await detector.check(next);
    await t.app.get(NotificationsService).whenIdle();
    expect(await reports('hourly_check:bounce_rate:all')).toHaveLength(1);
    expect(slack.delivered.length - before).toBe(1);
  });

  it('several anomalies → an AI diagnosis that forces the tool, carries the stats and no address, and alerts with its summary', async () => {
    await resolveAll();
    const hour = await seedHour([
      { domain: null, sent: 1000, delivered: 850, hard: 90, soft: 60 },
      { domain: 'gmail.com', sent: 600, delivered: 480, hard: 80, soft: 40 },
    ]);
    // An error text with an address in it, in the hour analysed.
    const log = await makeEmailLog(t.dataSource, {
      status: 'bounced',
      smtpCode: '550',
      errorMessage: '550 5.1.1 <john.doe@gmail.com>: Recipient address rejected: User unknown',
    });
    await t.dataSource.query(`UPDATE email_logs SET created_at = $2 WHERE id = $1`, [
      log.id,
      new Date(hour.getTime() + 60_000),
    ]);
    const requestsBefore = anthropic.requests.length;
    const slackBefore = slack.delivered.length;

    const r = await detector.check(hour);
    expect(r.outcome).toBe('ai_requested');
    const report = await waitFor(async () => {
      const [x] = await reports('ai_triggered:deliverability');
      return x?.ai_analysis ? x : null;
    }, 'AI analysis stored');
    expect(report).toEqual(
      expect.objectContaining({
        report_type: 'ai_triggered',
        severity: 'critical',
        summary: 'Bounce rate at gmail.com is critical: a purchased or stale list segment.',
        root_cause: 'Most bounces are 550 5.1.1 user unknown at gmail.com from one campaign.',
        ai_analysis: 'gmail.com accounts for 80 % of hard bounces; other domains are normal.',
        recommended_actions: [
          'Pause the campaign sending to gmail.com',
          'Re-verify the list segment',
        ],
        should_pause_sending: true,
        urgency: 'critical',
      }),
    );
    expect(report.context.ai).toEqual(expect.objectContaining({ status: 'ok', source: 'tool' }));

    const sent = anthropic.requests.slice(requestsBefore);
    expect(sent).toHaveLength(1);
    const body = sent[0].body as Record<string, any>;
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'report_diagnosis' });
    const prompt = JSON.stringify(body.messages);
    expect(prompt).toContain('gmail.com');
    expect(prompt).toContain('1000');
    expect(prompt).toContain('550 5.1.1');
    expect(prompt).not.toContain('john.doe');
    expect(prompt).not.toMatch(/[\w.+-]+@[\w-]+\.[\w.]+/);

    await t.app.get(NotificationsService).whenIdle();
    const alert = slack.delivered
      .slice(slackBefore)
      .find((a) => String((a.body.attachments as any[])[0].title).startsWith('AI diagnosis:'));
    expect(alert).toBeDefined();
    expect((alert!.body.attachments as any[])[0].color).toBe('#d92d20');
  });

  it('keeps the rule-based fallback report when the API fails', async () => {
    await resolveAll();
    anthropic.queueResponses({ kind: 'error', type: 'api_error', status: 500 });
    const hour = await seedHour([
      { domain: null, sent: 2000, delivered: 1700, hard: 200, complained: 4 },
    ]);
    const r = await detector.check(hour);
    expect(r.outcome).toBe('ai_requested');
    const report = await waitFor(async () => {
      const [x] = (await reports('ai_triggered:deliverability')).filter(
        (y: any) => y.status === 'pending',
      );
      return x?.context?.ai?.status === 'fallback' ? x : null;
    }, 'fallback recorded');
    expect(report.ai_analysis).toBeNull();
    expect(report.summary).toMatch(
      /^3 deliverability anomalies \(3 critical\): Bounce rate is 10 %/,
    );
    expect(report.recommended_actions.length).toBeGreaterThan(0);
    expect(report.context.ai.reason).toBe('api_error');
  });
});

describe('AUTO_PAUSE', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await bootTestApp({ AUTO_PAUSE: 'true', ANOMALY_MIN_VOLUME: '100' });
    key = await t.createKey();
  });
  afterAll(() => t.close());

  it('pauses only the broadcast stream when only its numbers are critical', async () => {
    const hour = new Date(Math.floor(Date.now() / 3600e3) * 3600e3 - 6 * 3600e3);
    // All streams: 120 hard bounces of 10,000 (1.2 %); broadcast alone: 120 of 1,000 (12 %).
    await t.dataSource.query(
      `INSERT INTO hourly_stats (hour, stream, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked, delivery_rate, bounce_rate, complaint_rate)
       VALUES ($1, NULL, NULL, 10000, 9880, 120, 0, 0, 0, 0, 0, 0, 0),
              ($1, 'broadcast', NULL, 1000, 880, 120, 0, 0, 0, 0, 0, 0, 0),
              ($1, 'transactional', NULL, 9000, 9000, 0, 0, 0, 0, 0, 0, 0, 0)`,
      [hour],
    );
    const r = await t.app.get(AnomalyDetectorService).check(hour);
    expect(r).toEqual(expect.objectContaining({ paused: true }));
    const rc = await request(t.server)
      .get('/api/v1/rate-control')
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(rc.body).toEqual(
      expect.objectContaining({ paused_all: false, paused_streams: ['broadcast'] }),
    );
    await request(t.server)
      .post('/api/v1/rate-control/resume')
      .set('Authorization', `Bearer ${key}`)
      .send({ stream: 'broadcast' })
      .expect(200);
  });

  it('pauses all sending on a critical bounce hour and says so in the report', async () => {
    const hour = new Date(Math.floor(Date.now() / 3600e3) * 3600e3 - 5 * 3600e3);
    await t.dataSource.query(
      `INSERT INTO hourly_stats (hour, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked, delivery_rate, bounce_rate, complaint_rate)
       VALUES ($1, NULL, 1000, 880, 120, 0, 0, 0, 0, 0, 0, 0)`,
      [hour],
    );
    const r = await t.app.get(AnomalyDetectorService).check(hour);
    expect(r).toEqual(expect.objectContaining({ paused: true }));
    const rc = await request(t.server)
      .get('/api/v1/rate-control')
      .set('Authorization', `Bearer ${key}`)
      .expect(200);
    expect(rc.body.paused_all).toBe(true);
    const res = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({ to: `${randomUUID()}@x.example`, from: 'a@b.example', subject: 's', text: 'x' });
    // Accepted and queued: the pause holds delivery back, it does not refuse mail.
    expect(res.status).toBe(202);
  });
});
