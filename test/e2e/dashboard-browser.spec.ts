import { statSync } from 'node:fs';
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import request from 'supertest';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { ReportsService } from 'src/modules/diagnostics/reports.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { artifactPath, launchChromium, listenOnLoopback } from 'test/utils/browser';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(180_000);

/** Runs in the page (callbacks of $$eval / evaluate); the test tsconfig has no DOM lib. */
declare function getComputedStyle(element: unknown): { fill: string; color: string };

const USER = 'operator';
const PASSWORD = 'a long operator password';
const HOUR_MS = 3600_000;
const TITLE_SUFFIX = ' · Email Sender';

/**
 * A hostile email: if any of this ran in the operator's browser it would retitle the page,
 * add a #pwned element, open a dialog, or fetch the remote image.
 */
const HOSTILE_HTML = `<!doctype html><html><head><style>.headline{color:#00aa77}</style></head><body>
<h1 class="headline">Spring sale</h1>
<p id="para" style="color: rgb(120, 30, 200)">Everything must go.</p>
<script>
  document.title = 'PWNED';
  try { parent.document.title = 'PWNED'; } catch (e) {}
  var d = document.createElement('div'); d.id = 'pwned'; d.textContent = 'PWNED'; document.body.appendChild(d);
  alert('PWNED');
</script>
<img src="https://evil.example/pixel.gif" alt="">
<a href="https://shop.example/sale">Shop now</a>
</body></html>`;

type Counts = { sent: number; delivered: number; bounced: number; complained: number };

describe('Dashboard in a real browser (e2e)', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let hostileId: string;
  let aiReportId: number;
  const seeded = new Map<string, Counts>();

  beforeAll(async () => {
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      ADMIN_USERNAME: USER,
      ADMIN_PASSWORD: PASSWORD,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      RATE_LIMIT_IP_PER_MIN: '10000',
    });
    const key = await t.createKey();

    // Real sends through the sandbox transport and the worker.
    const send = async (body: Record<string, unknown>): Promise<string> =>
      (
        await request(t.server)
          .post('/api/v1/send')
          .set('Authorization', `Bearer ${key}`)
          .send(body)
          .expect(202)
      ).body.message_id;
    hostileId = await send({
      to: 'ann@simulator.test',
      subject: 'Spring sale',
      html: HOSTILE_HTML,
      campaign_id: 'spring',
      tag: 'promo',
    });
    const others = [
      await send({
        to: 'bounce@simulator.test',
        subject: 'Spring sale',
        html: '<p>Hi</p>',
        campaign_id: 'spring',
      }),
      await send({
        to: 'bob@simulator.test',
        subject: 'Spring sale',
        html: '<p>Hi Bob</p>',
        campaign_id: 'spring',
      }),
      await send({
        to: 'carol@simulator.test',
        subject: 'Receipt',
        text: 'Thanks',
        campaign_id: 'receipts',
      }),
    ];
    await waitFor(async () => {
      const rows: Array<{ status: string }> = await t.dataSource.query(
        `SELECT status FROM email_logs WHERE external_message_id = ANY($1)`,
        [[hostileId, ...others]],
      );
      return (
        rows.length === 4 && rows.every((r) => r.status === 'delivered' || r.status === 'bounced')
      );
    }, 'the sandbox to settle every message');

    // 23 stored hours before the current one, with a daily rhythm and a bounce spike.
    const current = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    for (let h = 1; h <= 23; h++) {
      const hour = new Date(current - h * HOUR_MS);
      const sent = Math.round(900 + 600 * Math.sin(((hour.getUTCHours() - 6) / 24) * 2 * Math.PI));
      const hard = h === 5 ? 70 : Math.round(sent * 0.012);
      const soft = Math.round(sent * 0.008);
      const c: Counts = {
        sent,
        delivered: sent - hard - soft - 3,
        bounced: hard + soft,
        complained: h % 6 === 0 ? 2 : h % 4 === 0 ? 1 : 0,
      };
      seeded.set(hour.toISOString(), c);
      await t.dataSource.query(
        `INSERT INTO hourly_stats (hour, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked)
         VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8)`,
        [
          hour,
          c.sent,
          c.delivered,
          hard,
          soft,
          c.complained,
          Math.round(sent * 0.31),
          Math.round(sent * 0.04),
        ],
      );
      const shares: Array<[string, number, number]> = [
        ['gmail.com', 0.46, 0.01],
        ['outlook.com', 0.24, 0.015],
        ['yahoo.com', 0.14, h === 5 ? 0.4 : 0.03],
        ['icloud.com', 0.09, 0.005],
      ];
      for (const [domain, share, bounceShare] of shares) {
        const ds = Math.round(sent * share);
        const db = Math.round(ds * bounceShare);
        await t.dataSource.query(
          `INSERT INTO hourly_stats (hour, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked)
           VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0)`,
          [hour, domain, ds, ds - db, db],
        );
      }
    }

    const diagnostics = t.app.get(DiagnosticsService);
    aiReportId = (
      await diagnostics.upsertOpenReport({
        fingerprint: 'browser:yahoo-bounces',
        reportType: 'ai_triggered',
        severity: 'critical',
        summary: 'Bounce rate for yahoo.com is 40 % (critical at 10 %)',
        anomalies: [
          {
            type: 'bounce_rate',
            severity: 'critical',
            value: 40,
            threshold: 10,
            domain: 'yahoo.com',
            message: 'Bounce rate for yahoo.com is 40 %',
          },
        ],
        stats: { sent: 1240, bounced_hard: 70, bounced_soft: 12 },
        rootCause: 'A list imported on Monday holds many dead yahoo.com addresses',
        recommendedActions: [
          'Pause sending to yahoo.com',
          'Remove the imported list',
          'Re-enable double opt-in',
        ],
        alert: false,
      })
    ).id;
    await t.dataSource.query(
      `UPDATE diagnostic_reports SET ai_analysis = $2, should_pause_sending = true, urgency = 'high',
              context = '{"ai": {"status": "ok", "model": "claude-test"}}' WHERE id = $1`,
      [
        aiReportId,
        '70 of the 82 bounces are 550 5.1.1 at yahoo.com.\n\nThey all come from one list.',
      ],
    );
    await diagnostics.upsertOpenReport({
      fingerprint: 'browser:complaints',
      reportType: 'hourly_check',
      severity: 'warning',
      summary: 'Complaint rate is 0.06 % (warning at 0.05 %)',
      recommendedActions: ['Review how the spring campaign recipients opted in'],
      alert: false,
    });
    await t.app.get(RateControlService).reduceRate('outlook.com');

    base = await listenOnLoopback(t.app);
    browser = await launchChromium();
    context = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1360, height: 900 },
    });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  /** Console errors about the Content-Security-Policy: the pages must need nothing it blocks. */
  function cspErrors(page: Page): string[] {
    const errors: string[] = [];
    page.on('console', (m: ConsoleMessage) => {
      if (/Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    return errors;
  }

  it('asks for Basic auth: no way in without the right credentials', async () => {
    const anonymous = await browser.newContext();
    const wrong = await browser.newContext({
      httpCredentials: { username: USER, password: 'not the password' },
    });
    try {
      const res = await anonymous.request.get(`${base}/dashboard`);
      expect(res.status()).toBe(401);
      expect(res.headers()['www-authenticate']).toMatch(/^Basic /);
      // A browser that cannot answer the challenge gives up; a wrong password stays a 401.
      await expect((await anonymous.newPage()).goto(`${base}/dashboard`)).rejects.toThrow(
        /ERR_INVALID_AUTH_CREDENTIALS/,
      );
      const denied = await (await wrong.newPage()).goto(`${base}/dashboard`);
      expect(denied?.status()).toBe(401);
      expect(await denied?.text()).not.toContain('Overview');
    } finally {
      await anonymous.close();
      await wrong.close();
    }
  });

  it('logs in and draws the 24-hour chart from the stored hourly statistics', async () => {
    const page = await context.newPage();
    const csp = cspErrors(page);
    const res = await page.goto(`${base}/dashboard`);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe(`Overview${TITLE_SUFFIX}`);

    const chart = page.locator('svg.chart');
    await expect(chart.isVisible()).resolves.toBe(true);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(900);
    expect(box!.height).toBeGreaterThan(250);

    const marks = await page.$$eval('svg.chart .mark', (els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return {
          series: e.getAttribute('data-series')!,
          hour: e.getAttribute('data-hour')!,
          value: Number(e.getAttribute('data-value')),
          top: r.top,
          height: r.height,
          fill: getComputedStyle(e).fill,
        };
      }),
    );
    for (const series of ['sent', 'delivered', 'bounced', 'complained']) {
      expect(marks.filter((m) => m.series === series)).toHaveLength(24);
    }
    let matched = 0;
    for (const m of marks) {
      const s = seeded.get(m.hour);
      if (!s) continue;
      expect({ hour: m.hour, series: m.series, value: m.value }).toEqual({
        hour: m.hour,
        series: m.series,
        value: s[m.series as keyof Counts],
      });
      matched += 1;
    }
    expect(matched).toBeGreaterThanOrEqual(22 * 4);

    // Drawn to scale: a larger count sits higher (points) or stands taller (bars).
    const sent = marks.filter((m) => m.series === 'sent' && seeded.has(m.hour));
    const [low, high] = [
      sent.reduce((a, b) => (b.value < a.value ? b : a)),
      sent.reduce((a, b) => (b.value > a.value ? b : a)),
    ];
    expect(high.top).toBeLessThan(low.top);
    const bounced = marks.filter((m) => m.series === 'bounced' && seeded.has(m.hour));
    const spike = bounced.reduce((a, b) => (b.value > a.value ? b : a));
    expect(spike.value).toBe(70 + Math.round(seeded.get(spike.hour)!.sent * 0.008));
    for (const b of bounced) if (b !== spike) expect(b.height).toBeLessThan(spike.height);
    // The stylesheet applied (style-src 'self'): each series has its own colour.
    const colours = new Set(
      ['sent', 'delivered', 'bounced', 'complained'].map(
        (s) => marks.find((m) => m.series === s)!.fill,
      ),
    );
    expect(colours.size).toBe(4);
    expect(marks.find((m) => m.series === 'sent')!.fill).toBe('rgb(47, 91, 211)');

    // Legend, axes and rate tiles.
    const legend = await page.locator('svg.chart .legend text').allTextContents();
    expect(legend).toEqual(['Sent', 'Delivered', 'Bounced', 'Complained']);
    expect(await page.locator('svg.chart .axis').count()).toBe(2);
    expect(await page.locator('[data-rate="bounce_rate"]').getAttribute('data-level')).toMatch(
      /ok|warning|critical/,
    );
    expect(await page.locator('#top-domains tbody tr').count()).toBeGreaterThanOrEqual(4);
    // analytics, domains, email-delivery, event-webhooks, webhooks
    expect(await page.locator('#queue-depths tbody tr').count()).toBe(5);
    expect(await page.locator('a[href="/queues"]').count()).toBeGreaterThan(0);

    await page.screenshot({ path: artifactPath('dashboard-overview.png'), fullPage: true });
    expect(statSync(artifactPath('dashboard-overview.png')).size).toBeGreaterThan(20_000);
    expect(csp).toEqual([]);
    await page.close();
  });

  it('filters the logs, opens a message timeline, and the email’s script never runs', async () => {
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));

    await page.goto(`${base}/dashboard/logs`);
    expect(await page.locator('#logs tbody tr').count()).toBeGreaterThanOrEqual(4);
    await page.selectOption('#f-status', 'delivered');
    await page.fill('#f-domain', 'simulator.test');
    await page.fill('#f-campaign', 'spring');
    await Promise.all([
      page.waitForURL(/status=delivered/),
      page.click('button:has-text("Filter")'),
    ]);
    const url = new URL(page.url());
    expect(url.searchParams.get('domain')).toBe('simulator.test');
    expect(url.searchParams.get('campaign_id')).toBe('spring');
    const rows = await page.$$eval('#logs tbody tr', (trs) =>
      trs.map((tr) => ({
        recipient: tr.querySelector('td:nth-child(2)')!.textContent!.trim(),
        status: tr.querySelector('.badge')!.textContent!.trim(),
      })),
    );
    expect(rows.map((r) => r.recipient).sort()).toEqual([
      'ann@simulator.test',
      'bob@simulator.test',
    ]);
    expect(rows.every((r) => r.status === 'delivered')).toBe(true);
    // The form keeps the filters.
    expect(await page.inputValue('#f-domain')).toBe('simulator.test');
    expect(await page.inputValue('#f-status')).toBe('delivered');
    await page.screenshot({ path: artifactPath('dashboard-logs.png'), fullPage: true });

    await Promise.all([
      page.waitForURL(/\/dashboard\/logs\/[0-9a-f-]{36}$/),
      page.click('a:has-text("ann@simulator.test")'),
    ]);
    expect(page.url()).toBe(`${base}/dashboard/logs/${hostileId}`);
    expect(await page.locator('#message-status').textContent()).toBe('delivered');
    const timeline = await page
      .locator('#timeline .event')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-event')));
    expect(timeline).toEqual(['queued', 'sent', 'delivered']);

    // The rendered email is shown, with its own styles, inside the sandboxed frame.
    const frameEl = page.locator('iframe.preview');
    expect(await frameEl.getAttribute('sandbox')).toBe('');
    const frame = page.frameLocator('iframe.preview');
    await expect(frame.locator('h1.headline').textContent()).resolves.toBe('Spring sale');
    expect(await frame.locator('h1.headline').evaluate((e) => getComputedStyle(e).color)).toBe(
      'rgb(0, 170, 119)',
    );
    expect(await frame.locator('#para').evaluate((e) => getComputedStyle(e).color)).toBe(
      'rgb(120, 30, 200)',
    );

    // …and its script did nothing: no new title, no element, no dialog; Chromium says why.
    await page.waitForLoadState('load');
    expect(await page.title()).toBe(`Message to ann@simulator.test${TITLE_SUFFIX}`);
    expect(await frame.locator('#pwned').count()).toBe(0);
    expect(await frame.locator('body').innerText()).not.toContain('PWNED');
    expect(dialogs).toEqual([]);
    expect(consoleLines.some((l) => l.includes("Blocked script execution in 'about:srcdoc'"))).toBe(
      true,
    );
    // Nothing but the dashboard was fetched: not the remote image, not the tracking pixel.
    expect(requested.filter((u) => !u.startsWith(`${base}/dashboard`))).toEqual([]);
    const events: Array<{ event_type: string }> = await t.dataSource.query(
      `SELECT e.event_type FROM email_events e JOIN email_logs l ON l.id = e.email_log_id
        WHERE l.external_message_id = $1`,
      [hostileId],
    );
    expect(events.map((e) => e.event_type)).not.toContain('opened');

    await page.screenshot({ path: artifactPath('dashboard-message.png'), fullPage: true });
    await frameEl.screenshot({ path: artifactPath('dashboard-message-frame.png') });
    expect(statSync(artifactPath('dashboard-message.png')).size).toBeGreaterThan(20_000);
    await page.close();
  });

  it('answers a bad filter with a 400 page that says what is wrong', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/dashboard/logs`);
    await page.fill('#f-domain', 'not a domain!');
    const [res] = await Promise.all([
      page.waitForNavigation(),
      page.click('button:has-text("Filter")'),
    ]);
    expect(res?.status()).toBe(400);
    expect(await page.locator('.error-code').textContent()).toBe('400');
    expect(await page.locator('.lead').textContent()).toContain('domain must be a hostname');
    // One problem: said once, not repeated as a list.
    expect(await page.locator('.error-details').count()).toBe(0);
    await page.screenshot({ path: artifactPath('dashboard-error.png'), fullPage: true });
    await page.close();
  });

  it('acknowledges a report, then resolves it on its page with the AI analysis shown', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/dashboard`);
    const item = page.locator(`li[data-report-id="${aiReportId}"]`);
    expect(await item.locator('[data-report-status]').textContent()).toBe('pending');
    await Promise.all([
      page.waitForURL(/notice=acknowledged/),
      item.locator('button:has-text("Acknowledge")').click(),
    ]);
    expect(await page.locator('.notice').textContent()).toBe(`Report #${aiReportId} acknowledged.`);
    expect(await item.locator('[data-report-status]').textContent()).toBe('acknowledged');
    expect(await item.locator('button:has-text("Acknowledge")').count()).toBe(0);
    expect((await t.app.get(ReportsService).get(aiReportId)).status).toBe('acknowledged');

    await Promise.all([
      page.waitForURL(new RegExp(`/dashboard/reports/${aiReportId}$`)),
      item.locator('a:has-text("Details")').click(),
    ]);
    expect(await page.locator('#ai-analysis p').allTextContents()).toEqual([
      '70 of the 82 bounces are 550 5.1.1 at yahoo.com.',
      'They all come from one list.',
    ]);
    expect(await page.locator('.action-list li').count()).toBe(3);
    await page.screenshot({ path: artifactPath('dashboard-report.png'), fullPage: true });
    await page.fill('#notes', 'Removed the imported list');
    await Promise.all([
      page.waitForURL(/notice=resolved/),
      page.click('button:has-text("Resolve report")'),
    ]);
    expect(await page.locator('#report-status').textContent()).toBe('resolved');
    expect(await page.locator('blockquote').textContent()).toBe('Removed the imported list');
    const stored = await t.app.get(ReportsService).get(aiReportId);
    expect(stored.status).toBe('resolved');
    expect(stored.resolution_notes).toBe('Removed the imported list');

    await page.goto(`${base}/dashboard`);
    expect(await page.locator(`li[data-report-id="${aiReportId}"]`).count()).toBe(0);
    await page.close();
  });

  it('pauses and resumes a domain and all sending, with JavaScript turned off', async () => {
    const noJs = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      javaScriptEnabled: false,
    });
    const rates = t.app.get(RateControlService);
    try {
      const page = await noJs.newPage();
      await page.goto(`${base}/dashboard`);
      const slowed = page.locator('#rate-domains tr[data-domain="outlook.com"]');
      expect(await slowed.getAttribute('data-paused')).toBe('false');

      // Pause from the top-domains table.
      await Promise.all([
        page.waitForURL(/notice=paused/),
        page.locator('#top-domains tr[data-domain="gmail.com"] button:has-text("Pause")').click(),
      ]);
      expect(await page.locator('.notice').textContent()).toBe('Sending to gmail.com is paused.');
      expect(await rates.isPaused('gmail.com')).toBe(true);
      const row = page.locator('#rate-domains tr[data-domain="gmail.com"]');
      expect(await row.getAttribute('data-paused')).toBe('true');
      expect(
        await page.locator('#top-domains tr[data-domain="gmail.com"] .tag').textContent(),
      ).toBe('paused');

      // Resume from the rate-control table.
      await Promise.all([
        page.waitForURL(/notice=resumed/),
        row.locator('button:has-text("Resume")').click(),
      ]);
      expect(await rates.isPaused('gmail.com')).toBe(false);
      expect(await page.locator('#rate-domains tr[data-domain="gmail.com"]').count()).toBe(0);

      // Any domain, typed in.
      await page.fill('#pause-domain', 'Example.ORG');
      await Promise.all([page.waitForURL(/notice=paused/), page.click('.pause-domain button')]);
      expect(await rates.isPaused('example.org')).toBe(true);
      await Promise.all([
        page.waitForURL(/notice=resumed/),
        page
          .locator('#rate-domains tr[data-domain="example.org"] button:has-text("Resume")')
          .click(),
      ]);
      expect(await rates.isPaused('example.org')).toBe(false);

      // All sending.
      await Promise.all([
        page.waitForURL(/notice=paused-all/),
        page.click('button:has-text("Pause all sending")'),
      ]);
      expect(await rates.isPaused()).toBe(true);
      expect(await page.locator('[data-sending]').textContent()).toBe('All sending paused');
      await Promise.all([
        page.waitForURL(/notice=resumed-all/),
        page.locator('.banner button:has-text("Resume all sending")').click(),
      ]);
      expect(await rates.isPaused()).toBe(false);
      expect(await page.locator('[data-sending]').textContent()).toBe('Sending active');
    } finally {
      await noJs.close();
    }
  });
});
