import { createHash } from 'node:crypto';
import request from 'supertest';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { makeEmailEvent, makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(120_000);

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const HOUR_MS = 3600_000;

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const AUTH = basic(USER, PASSWORD);

/** The email whose script must never run in the operator's browser. */
const HOSTILE_HTML =
  '<html><head><style>.brand{color:#0a7}</style></head><body>' +
  '<h1 class="brand" style="font-size: 20px">Spring sale</h1>' +
  '<script>parent.document.title="PWNED";document.body.innerHTML="PWNED"</script>' +
  '<img src="https://evil.example/pixel.gif" onerror="parent.document.title=\'PWNED\'">' +
  '<a href="https://shop.example/sale">Shop now</a></body></html>';

/**
 * Every URL a page points at (href, src, action, srcset, xlink:href, formaction, poster and
 * CSS url()); the srcdoc attribute's content is escaped markup, not a URL of the page.
 */
function urlsOf(html: string): string[] {
  const out: string[] = [];
  const attr =
    /\s(?:href|src|action|srcset|xlink:href|formaction|poster|background|data)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;
  for (const m of html.matchAll(attr)) out.push(decode(m[1] ?? m[2] ?? m[3] ?? ''));
  for (const m of html.matchAll(/url\(\s*['"]?([^'")]+)/gi)) out.push(m[1]);
  return out;
}

/** An attribute value as the browser reads it (Handlebars escapes &, <, >, ", ', `, =). */
const decode = (value: string): string =>
  value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const cspHash = (text: string): string =>
  `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

const isLocal = (url: string): boolean =>
  (url.startsWith('/') && !url.startsWith('//')) || url.startsWith('#') || url.startsWith('data:');

/** The CSRF session cookie and the form token of a dashboard page. */
async function session(
  t: TestApp,
  path = '/dashboard',
): Promise<{ cookie: string; token: string }> {
  const res = await request(t.server).get(path).set('Authorization', AUTH).expect(200);
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = setCookie.find((c) => c.startsWith('dashboard_csrf='));
  if (!cookie) throw new Error('no dashboard_csrf cookie');
  const token = /name="_csrf" value="([^"]+)"/.exec(res.text)?.[1];
  if (!token) throw new Error('no _csrf field on the page');
  return { cookie: cookie.split(';')[0], token };
}

describe('Dashboard over HTTP (e2e)', () => {
  let t: TestApp;
  let key: string;
  let hostileId: string;
  let reportId: number;
  let secondReportId: number;
  /** Start of the current hour when the statistics were seeded. */
  let current: number;
  const seeded = new Map<
    string,
    { sent: number; delivered: number; bounced: number; complained: number }
  >();

  beforeAll(async () => {
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      ADMIN_USERNAME: USER,
      ADMIN_PASSWORD: PASSWORD,
      DEFAULT_FROM: 'Shop <news@shop.example>',
      RATE_LIMIT_IP_PER_MIN: '10000',
      // Wrong passwords count towards the per-IP ban (test/e2e/operator-ban.spec.ts); this
      // file tries many on purpose from one address.
      AUTH_BAN_MAX_FAILURES: '1000',
    });
    key = await t.createKey();

    const sent = await request(t.server)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send({
        to: 'ann@simulator.test',
        subject: 'Spring sale',
        html: HOSTILE_HTML,
        campaign_id: 'spring',
        tag: 'promo',
      })
      .expect(202);
    hostileId = sent.body.message_id;
    await waitFor(async () => {
      const [row] = await t.dataSource.query(
        `SELECT status FROM email_logs WHERE external_message_id = $1`,
        [hostileId],
      );
      return row?.status === 'delivered';
    }, 'the hostile email delivered by the sandbox');

    // 23 stored hours before the current one (the current hour is counted live).
    current = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    for (let h = 1; h <= 23; h++) {
      const hour = new Date(current - h * HOUR_MS);
      const counts = {
        sent: 100 + h,
        delivered: 90 + h,
        bounced: 6,
        complained: h % 8 === 0 ? 1 : 0,
      };
      seeded.set(hour.toISOString(), counts);
      await t.dataSource.query(
        `INSERT INTO hourly_stats (hour, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked)
         VALUES ($1, NULL, $2, $3, 4, 2, $4, 30, 5), ($1, 'gmail.com', 60, 45, 4, 2, 0, 10, 1)`,
        [hour, counts.sent, counts.delivered, counts.complained],
      );
    }

    const diagnostics = t.app.get(DiagnosticsService);
    reportId = (
      await diagnostics.upsertOpenReport({
        fingerprint: 'dashboard-test:bounces',
        reportType: 'ai_triggered',
        severity: 'critical',
        summary: 'Bounce rate at gmail.com is 10 %',
        anomalies: [
          {
            type: 'bounce_rate',
            severity: 'critical',
            value: 10,
            threshold: 10,
            domain: 'gmail.com',
          },
        ],
        stats: { sent: 1200, bounced_hard: 120 },
        recommendedActions: ['Pause gmail.com', 'Check the list source'],
        alert: false,
      })
    ).id;
    secondReportId = (
      await diagnostics.upsertOpenReport({
        fingerprint: 'dashboard-test:complaints',
        reportType: 'hourly_check',
        severity: 'warning',
        summary: 'Complaint rate <b>warning</b>',
        recommendedActions: ['Review opt-in'],
        alert: false,
      })
    ).id;
  });
  afterAll(() => t.close());

  describe('Basic auth', () => {
    const paths = [
      ['GET', '/dashboard'],
      ['GET', '/dashboard/logs'],
      ['GET', '/dashboard/logs/00000000-0000-4000-8000-000000000000'],
      ['GET', '/dashboard/reports/1'],
      ['GET', '/dashboard/assets/dashboard.css'],
      ['GET', '/dashboard/no-such-page'],
      ['POST', '/dashboard/sending/pause'],
      ['POST', '/dashboard/reports/1/acknowledge'],
    ] as const;

    it.each(paths)(
      '%s %s → 401 with a Basic challenge without credentials',
      async (method, path) => {
        const res = await (method === 'GET'
          ? request(t.server).get(path)
          : request(t.server).post(path));
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Basic realm="/);
        expect(res.text).not.toContain('dashboard_csrf');
      },
    );

    it.each([
      ['a wrong password', basic(USER, 'wrong')],
      ['a wrong user', basic('admin', PASSWORD)],
      ['the password with a suffix', basic(USER, `${PASSWORD}x`)],
      ['a bearer token', 'Bearer esk_whatever'],
      ['garbage', 'Basic !!!'],
    ])('→ 401 with %s', async (_what, header) => {
      const res = await request(t.server).get('/dashboard').set('Authorization', header);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    });

    it('does not need an API key; wrong passwords do not lock out the right one below the ban threshold', async () => {
      for (let i = 0; i < 7; i++) {
        await request(t.server)
          .get('/dashboard')
          .set('Authorization', basic(USER, 'nope'))
          .expect(401);
      }
      await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200);
      await request(t.server)
        .get('/api/v1/reports')
        .set('Authorization', `Bearer ${key}`)
        .expect(200);
    });
  });

  describe('security headers', () => {
    it.each([
      '/dashboard',
      '/dashboard/logs',
      '/dashboard/reports/999999',
      '/dashboard/logs?status=nope',
    ])('%s carries a CSP without script-src, no-store and DENY framing', async (path) => {
      const res = await request(t.server).get(path).set('Authorization', AUTH);
      const csp = res.headers['content-security-policy'];
      expect(csp).toBe(
        "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-src 'none'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(csp).not.toMatch(/script-src|unsafe-inline|unsafe-eval/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-type']).toMatch(/^text\/html; charset=utf-8/);
    });

    it('the 401 challenge carries them too', async () => {
      const res = await request(t.server).get('/dashboard').expect(401);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('issues the CSRF cookie HttpOnly, SameSite=Strict, scoped to /dashboard', async () => {
      const res = await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200);
      const cookie = ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('dashboard_csrf='));
      expect(cookie).toMatch(
        /^dashboard_csrf=[A-Za-z0-9_-]{43}; Path=\/dashboard; HttpOnly; SameSite=Strict$/,
      );
    });

    it('serves the one stylesheet locally, and pages use no inline script or style', async () => {
      const page = await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200);
      const href = decode(/<link rel="stylesheet" href="([^"]+)"/.exec(page.text)?.[1] ?? '');
      expect(href).toMatch(/^\/dashboard\/assets\/dashboard\.css\?v=[0-9a-f]{12}$/);
      const css = await request(t.server).get(href!).set('Authorization', AUTH).expect(200);
      expect(css.headers['content-type']).toMatch(/^text\/css/);
      expect(css.text).toContain('font-variant-numeric: tabular-nums');
      expect(page.text).not.toMatch(/<script/i);
      expect(page.text).not.toMatch(/\sstyle\s*=/i);
      expect(page.text).not.toMatch(/<style/i);
      expect(page.text).not.toMatch(/\son[a-z]+\s*=/i);
    });

    it('is not in the OpenAPI document', async () => {
      const doc = await request(t.server).get('/docs-json').expect(200);
      expect(Object.keys(doc.body.paths).filter((p) => p.startsWith('/dashboard'))).toEqual([]);
    });
  });

  describe('overview', () => {
    let html: string;
    beforeAll(async () => {
      html = (await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200))
        .text;
    });

    it('draws the 24-hour chart with one mark per hour and series, matching hourly_stats', () => {
      const marks = [
        ...html.matchAll(/data-series="(\w+)" data-hour="([^"]+)" data-value="(\d+)"/g),
      ].map((m) => ({ series: m[1], hour: m[2], value: Number(m[3]) }));
      for (const series of ['sent', 'delivered', 'bounced', 'complained']) {
        expect(marks.filter((m) => m.series === series)).toHaveLength(24);
      }
      let matched = 0;
      for (const m of marks) {
        const s = seeded.get(m.hour);
        if (!s) continue;
        expect(m.value).toBe(s[m.series as keyof typeof s]);
        matched += 1;
      }
      // All 23 stored hours are in the window (22 if an hour boundary passed since seeding).
      expect(matched).toBeGreaterThanOrEqual(22 * 4);
      expect(html).toContain('<svg class="chart"');
      expect(html).toMatch(
        /<g class="legend">[\s\S]*Sent[\s\S]*Delivered[\s\S]*Bounced[\s\S]*Complained/,
      );
      expect(html).toContain('class="axis"');
      expect(html).toContain('class="grid"');
    });

    it('filters the figures by stream with links, and refuses an unknown stream', async () => {
      const hour = new Date(current - 2 * HOUR_MS);
      await t.dataSource.query(
        `INSERT INTO hourly_stats (hour, stream, domain, sent, delivered, bounced_hard, bounced_soft, complained, opened, clicked)
         VALUES ($1, 'broadcast', NULL, 40, 38, 1, 1, 0, 0, 0)`,
        [hour],
      );
      const page = (
        await request(t.server)
          .get('/dashboard')
          .query({ stream: 'broadcast' })
          .set('Authorization', AUTH)
          .expect(200)
      ).text;
      const sent = [...page.matchAll(/data-series="sent" data-hour="([^"]+)" data-value="(\d+)"/g)];
      expect(sent.find((m) => m[1] === hour.toISOString())?.[2]).toBe('40');
      expect(page).toContain('Last 24 hours · broadcast stream');
      expect(page).toMatch(
        /<a href="\/dashboard\?stream(=|&#x3D;)broadcast"[^>]*aria-current="page"/,
      );
      expect(page).toMatch(/<a href="\/dashboard" class="[^"]*btn-ghost"/);
      // The all-streams page is unchanged by the broadcast row.
      expect(html).toContain('Last 24 hours · All streams');
      await request(t.server)
        .get('/dashboard')
        .query({ stream: 'newsletter' })
        .set('Authorization', AUTH)
        .expect(400);
    });

    it('colours the rates against the anomaly thresholds', () => {
      const level = (rate: string) =>
        new RegExp(`data-rate="${rate}" data-level="(\\w+)"`).exec(html)?.[1];
      // 6 bounced of ~101–123 sent per hour: ~5.3 % ≥ 5 % warning, < 10 %.
      expect(level('bounce_rate')).toBe('warning');
      // 2 complaints in ~2,600 sent: ~0.077 % ≥ 0.05 % warning, < 0.1 %.
      expect(level('complaint_rate')).toBe('warning');
      // Known outcomes: ~91–113 delivered + 6 bounced → ≥ 93.8 % < 95 %: warning.
      expect(level('delivery_rate')).toBe('warning');
      expect(level('open_rate')).toBe('neutral');
      expect(level('click_rate')).toBe('neutral');
    });

    it('lists top domains with their bounce rate, queue depths with a link to /queues, open reports', () => {
      const gmail = /<tr data-domain="gmail.com">([\s\S]*?)<\/tr>/.exec(html)?.[1] ?? '';
      expect(gmail).toContain('1,380'); // 23 × 60 sent
      expect(gmail).toContain('lvl-critical">10.00 %');
      for (const q of ['email-delivery', 'webhooks', 'analytics']) {
        expect(html).toContain(`<tr data-queue="${q}">`);
      }
      expect(html).toContain('href="/queues"');
      expect(html).toContain(`data-report-id="${reportId}"`);
      expect(html).toContain('Bounce rate at gmail.com is 10 %');
      expect(html).toContain('Pause gmail.com');
      // Escaped, never markup.
      expect(html).toContain('Complaint rate &lt;b&gt;warning&lt;/b&gt;');
      expect(html).not.toContain('<b>warning</b>');
      expect(html).toContain(`action="/dashboard/reports/${reportId}/acknowledge"`);
      expect(html).toContain(`action="/dashboard/reports/${reportId}/resolve"`);
    });
  });

  describe('CSRF', () => {
    it('rejects a post without a token, without the cookie, or with a wrong token (403), changing nothing', async () => {
      const { cookie, token } = await session(t);
      const other = await session(t);
      const attempts: Array<[string, Record<string, string>, string | null]> = [
        ['no token', {}, cookie],
        ['no cookie', { _csrf: token }, null],
        ['a wrong token', { _csrf: `${token.slice(0, -2)}xx` }, cookie],
        ["another session's token", { _csrf: other.token }, cookie],
        ['an empty token', { _csrf: '' }, cookie],
      ];
      for (const [what, form, withCookie] of attempts) {
        const req = request(t.server)
          .post(`/dashboard/reports/${reportId}/acknowledge`)
          .set('Authorization', AUTH)
          .type('form');
        if (withCookie) req.set('Cookie', withCookie);
        const res = await req.send(form);
        expect({ what, status: res.status }).toEqual({ what, status: 403 });
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain('security token');
      }
      const paused = await request(t.server)
        .post('/dashboard/sending/pause')
        .set('Authorization', AUTH)
        .type('form')
        .send({ domain: 'x.example' });
      expect(paused.status).toBe(403);
      expect(await t.app.get(RateControlService).isPaused()).toBe(false);
      const [row] = await t.dataSource.query(
        'SELECT status FROM diagnostic_reports WHERE id = $1',
        [reportId],
      );
      expect(row.status).toBe('pending');
    });

    it('a token is bound to the credentials: after a password change it no longer works', async () => {
      const { cookie, token } = await session(t);
      const other = await bootTestApp({ ADMIN_USERNAME: USER, ADMIN_PASSWORD: 'another password' });
      try {
        // Same TRACKING_SECRET (the test default), other password: the key is the same, the
        // credentials differ, so the token of the first does not verify.
        const res = await request(other.server)
          .post('/dashboard/sending/pause')
          .set('Authorization', basic(USER, 'another password'))
          .set('Cookie', cookie)
          .type('form')
          .send({ _csrf: token });
        expect(res.status).toBe(403);
      } finally {
        await other.close();
      }
    });

    it('accepts the right token and redirects back with 303 (post/redirect/get)', async () => {
      const { cookie, token } = await session(t);
      const res = await request(t.server)
        .post(`/dashboard/reports/${reportId}/acknowledge`)
        .set('Authorization', AUTH)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: token, back: 'overview' })
        .expect(303);
      expect(res.headers.location).toBe(
        `/dashboard?notice=acknowledged&subject=${reportId}#reports`,
      );
      const [row] = await t.dataSource.query(
        'SELECT status FROM diagnostic_reports WHERE id = $1',
        [reportId],
      );
      expect(row.status).toBe('acknowledged');
      const page = await request(t.server)
        .get(res.headers.location)
        .set('Authorization', AUTH)
        .set('Cookie', cookie)
        .expect(200);
      expect(page.text).toContain(`Report #${reportId} acknowledged.`);
      // An existing session keeps its cookie: no new Set-Cookie.
      expect(page.headers['set-cookie']).toBeUndefined();
    });

    it('resolves with notes from the report page and the report leaves the open list', async () => {
      const { cookie, token } = await session(t, `/dashboard/reports/${secondReportId}`);
      const res = await request(t.server)
        .post(`/dashboard/reports/${secondReportId}/resolve`)
        .set('Authorization', AUTH)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: token, back: 'report', notes: 'Removed the bought list' })
        .expect(303);
      expect(res.headers.location).toBe(
        `/dashboard/reports/${secondReportId}?notice=resolved&subject=${secondReportId}`,
      );
      const page = await request(t.server)
        .get(res.headers.location)
        .set('Authorization', AUTH)
        .expect(200);
      expect(page.text).toContain('id="report-status">resolved<');
      expect(page.text).toContain('Removed the bought list');
      const overview = await request(t.server)
        .get('/dashboard')
        .set('Authorization', AUTH)
        .expect(200);
      expect(overview.text).not.toContain(`data-report-id="${secondReportId}"`);
    });

    it('pauses, resets and resumes a domain, and all sending', async () => {
      const rates = t.app.get(RateControlService);
      const { cookie, token } = await session(t);
      const post = (path: string, form: Record<string, string> = {}) =>
        request(t.server)
          .post(path)
          .set('Authorization', AUTH)
          .set('Cookie', cookie)
          .type('form')
          .send({ _csrf: token, ...form });

      const paused = await post('/dashboard/domains/pause', { domain: ' Example.ORG ' }).expect(
        303,
      );
      expect(paused.headers.location).toBe(
        '/dashboard?notice=paused&subject=example.org#rate-control',
      );
      expect(await rates.isPaused('example.org')).toBe(true);
      let page = await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200);
      expect(page.text).toContain('<tr data-domain="example.org" data-paused="true">');
      const notice = await request(t.server)
        .get(paused.headers.location)
        .set('Authorization', AUTH)
        .expect(200);
      expect(notice.text).toContain('Sending to example.org is paused.');
      await rates.reduceRate('slow.example');
      await post('/dashboard/domains/reset', { domain: 'slow.example' }).expect(303);
      expect((await rates.getRate('slow.example')).factor).toBe(1);
      await post('/dashboard/domains/resume', { domain: 'example.org' }).expect(303);
      expect(await rates.isPaused('example.org')).toBe(false);

      await post('/dashboard/sending/pause').expect(303);
      expect(await rates.isPaused()).toBe(true);
      page = await request(t.server).get('/dashboard').set('Authorization', AUTH).expect(200);
      expect(page.text).toContain('data-sending="paused"');
      await post('/dashboard/sending/resume').expect(303);
      expect(await rates.isPaused()).toBe(false);

      const bad = await post('/dashboard/domains/pause', { domain: 'not a domain' });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain('domain must be a hostname');
      const extra = await post('/dashboard/domains/pause', { domain: 'x.example', evil: '1' });
      expect(extra.status).toBe(400);
    });
  });

  describe('message page', () => {
    it('shows fields and timeline, and the sandbox copy only inside an iframe sandbox="" srcdoc', async () => {
      const res = await request(t.server)
        .get(`/dashboard/logs/${hostileId}`)
        .set('Authorization', AUTH)
        .expect(200);
      const html = res.text;
      expect(html).toContain(hostileId);
      expect(html).toContain('ann@simulator.test');
      expect(html).toContain('Shop &lt;news@shop.example&gt;');
      const events = [...html.matchAll(/<li class="event" data-event="([^"]+)">/g)].map(
        (m) => m[1],
      );
      expect(events).toEqual(['queued', 'sent', 'delivered']);

      const iframes = [...html.matchAll(/<iframe\b[^>]*>/g)].map((m) => m[0]);
      expect(iframes).toHaveLength(1);
      const frame = iframes[0];
      expect(frame).toMatch(/\ssandbox=""(\s|>)/);
      expect(frame).not.toMatch(/allow-/);
      expect(frame).toMatch(/\ssrcdoc="[^"]*&lt;script&gt;parent\.document\.title/);
      // Nowhere on the page is there live markup from the email.
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toContain('onerror=');

      // The message page's CSP allows exactly the email's inline styles, still no script.
      const csp: string = res.headers['content-security-policy'];
      expect(csp).not.toMatch(/script-src|unsafe-inline/);
      const hashes = csp.match(/'sha256-[A-Za-z0-9+/=]+'/g) ?? [];
      // The email's <style> and style attribute, and the pixel the tracking step added.
      expect(hashes).toEqual(
        expect.arrayContaining([
          cspHash('.brand{color:#0a7}'),
          cspHash('font-size: 20px'),
          cspHash('display:none'),
        ]),
      );
      expect(csp).toContain("'unsafe-hashes'");
      expect(csp).toContain('img-src data:;');
    });

    it('404 for an unknown or malformed message id, as an HTML page', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '1']) {
        const res = await request(t.server).get(`/dashboard/logs/${id}`).set('Authorization', AUTH);
        expect(res.status).toBe(404);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain('Not found');
      }
    });
  });

  describe('logs', () => {
    const ids: Record<string, string> = {};
    beforeAll(async () => {
      const base = Date.now() - 10 * 60_000;
      const make = async (
        name: string,
        status: 'delivered' | 'bounced' | 'queued',
        recipient: string,
        campaign: string | null,
        ago: number,
      ) => {
        const log = await makeEmailLog(t.dataSource, {
          recipient,
          status,
          campaignId: campaign,
          createdAt: new Date(base - ago),
        });
        await makeEmailEvent(t.dataSource, log, 'queued');
        ids[name] = log.externalMessageId;
      };
      await make('a', 'delivered', 'a@logs.example', 'fall', 3 * HOUR_MS);
      await make('b', 'bounced', 'b@logs.example', 'fall', 2 * HOUR_MS);
      await make('c', 'delivered', 'c@other.example', 'winter', HOUR_MS);
      await make('d', 'queued', 'D@Logs.Example', null, 0);
    });

    const rowsOf = (html: string): string[] =>
      [...html.matchAll(/<tr data-message-id="([^"]+)">/g)].map((m) => m[1]);
    const logs = (query: Record<string, string>) =>
      request(t.server).get('/dashboard/logs').query(query).set('Authorization', AUTH);

    it('filters by status, recipient, campaign, domain and time', async () => {
      expect(rowsOf((await logs({ domain: 'logs.example' }).expect(200)).text)).toEqual([
        ids.d,
        ids.b,
        ids.a,
      ]);
      expect(
        rowsOf((await logs({ domain: 'logs.example', status: 'bounced' }).expect(200)).text),
      ).toEqual([ids.b]);
      expect(rowsOf((await logs({ recipient: 'd@logs.example' }).expect(200)).text)).toEqual([
        ids.d,
      ]);
      expect(rowsOf((await logs({ campaign_id: 'fall' }).expect(200)).text)).toEqual([
        ids.b,
        ids.a,
      ]);
      // Empty form fields are ignored, like a browser submits them.
      const form = await logs({
        status: '',
        recipient: '',
        campaign_id: 'winter',
        domain: '',
        from: '',
        to: '',
      }).expect(200);
      expect(rowsOf(form.text)).toEqual([ids.c]);
      // datetime-local values are UTC: from 2.5 h before the newest seed to 0.5 h before it.
      const fmt = (ms: number) => new Date(ms).toISOString().slice(0, 16);
      const base = Date.now() - 10 * 60_000;
      const window = await logs({
        domain: 'logs.example',
        from: fmt(base - 2.5 * HOUR_MS),
        to: fmt(base - 0.5 * HOUR_MS),
      }).expect(200);
      expect(rowsOf(window.text)).toEqual([ids.b]);
      const zoned = await logs({
        campaign_id: 'fall',
        from: new Date(base - 2.5 * HOUR_MS).toISOString(),
      }).expect(200);
      expect(rowsOf(zoned.text)).toEqual([ids.b]);
      // The filter echoes back into the form, escaped.
      const echoed = await logs({ recipient: '"><b>x' }).expect(200);
      expect(echoed.text).toContain('value="&quot;&gt;&lt;b&gt;x"');
      expect(rowsOf(echoed.text)).toEqual([]);
    });

    it('filters by stream', async () => {
      const broadcast = await makeEmailLog(t.dataSource, {
        recipient: 'b@streams.example',
        stream: 'broadcast',
      });
      const transactional = await makeEmailLog(t.dataSource, {
        recipient: 't@streams.example',
        stream: 'transactional',
      });
      const of = async (stream: string) =>
        rowsOf((await logs({ domain: 'streams.example', stream }).expect(200)).text);
      expect(await of('broadcast')).toEqual([broadcast.externalMessageId]);
      expect(await of('transactional')).toEqual([transactional.externalMessageId]);
      expect(await of('')).toEqual([transactional.externalMessageId, broadcast.externalMessageId]);
      const form = (await logs({ stream: 'broadcast' }).expect(200)).text;
      expect(form).toContain('<option value="broadcast" selected>');
      await logs({ stream: 'newsletter' }).expect(400);
    });

    it('pages with a keyset cursor and keeps the filters on the next link', async () => {
      const first = await logs({ domain: 'logs.example', limit: '2' }).expect(200);
      expect(rowsOf(first.text)).toEqual([ids.d, ids.b]);
      const next = /<a class="btn" href="([^"]+)" rel="next">/.exec(first.text)?.[1];
      expect(next).toBeDefined();
      const href = decode(next!);
      expect(href).toMatch(/^\/dashboard\/logs\?domain=logs.example&limit=2&cursor=/);
      const second = await request(t.server).get(href).set('Authorization', AUTH).expect(200);
      expect(rowsOf(second.text)).toEqual([ids.a]);
      expect(second.text).not.toContain('rel="next"');
      expect(second.text).toContain('← Newest');
    });

    it.each([
      ['an unknown status', { status: 'exploded' }],
      ['a status list', { status: ['sent', 'queued'] }],
      ['a malformed domain', { domain: 'not a domain' }],
      ['a time that is no time', { from: 'yesterday' }],
      ['a calendar-invalid date', { from: '2026-02-30T10:00' }],
      ['from after to', { from: '2026-11-28T10:00', to: '2026-11-28T09:00' }],
      ['a malformed cursor', { cursor: '!!' }],
      ['a cursor that is not ours', { cursor: 'bm90LWEtY3Vyc29y' }],
      ['a zero limit', { limit: '0' }],
      ['an unknown parameter', { sort: 'recipient' }],
    ])('400 page for %s, never a 500', async (_what, query) => {
      const res = await request(t.server)
        .get('/dashboard/logs')
        .query(query)
        .set('Authorization', AUTH);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('<p class="error-code">400</p>');
    });
  });

  describe('report page', () => {
    it('shows the full report with its AI analysis', async () => {
      await t.dataSource.query(
        `UPDATE diagnostic_reports SET ai_analysis = $2, root_cause = 'A purchased list', urgency = 'high',
                context = '{"ai": {"status": "ok", "model": "claude-test"}}'
          WHERE id = $1`,
        [reportId, 'Most bounces are 5.1.1 at gmail.com.\n\nThe list was <i>bought</i> last week.'],
      );
      const res = await request(t.server)
        .get(`/dashboard/reports/${reportId}`)
        .set('Authorization', AUTH)
        .expect(200);
      expect(res.text).toContain('Bounce rate at gmail.com is 10 %');
      expect(res.text).toContain('A purchased list');
      expect(res.text).toContain('<p>Most bounces are 5.1.1 at gmail.com.</p>');
      expect(res.text).toContain('<p>The list was &lt;i&gt;bought&lt;/i&gt; last week.</p>');
      expect(res.text).toContain('Diagnosed by claude-test');
      expect(res.text).toContain('Check the list source');
      expect(res.text).toContain('10 %');
    });

    it.each(['999999', 'abc', '0', '99999999999'])('404 page for report %s', async (id) => {
      const res = await request(t.server)
        .get(`/dashboard/reports/${id}`)
        .set('Authorization', AUTH);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
    });

    it('404 page for an unknown dashboard path and for actions on unknown reports', async () => {
      await request(t.server).get('/dashboard/nothing/here').set('Authorization', AUTH).expect(404);
      const { cookie, token } = await session(t);
      await request(t.server)
        .post('/dashboard/reports/999999/acknowledge')
        .set('Authorization', AUTH)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: token })
        .expect(404);
    });
  });

  it('no page points at an external URL', async () => {
    const pages = [
      '/dashboard',
      '/dashboard/logs',
      '/dashboard/logs?domain=logs.example&limit=1',
      `/dashboard/logs/${hostileId}`,
      `/dashboard/reports/${reportId}`,
      '/dashboard/reports/424242',
      '/dashboard/logs?status=bogus',
      '/dashboard/assets/dashboard.css',
    ];
    for (const path of pages) {
      const res = await request(t.server).get(path).set('Authorization', AUTH);
      const urls = urlsOf(res.text);
      if (!path.endsWith('.css')) expect(urls.length).toBeGreaterThan(0);
      expect({ path, external: urls.filter((u) => !isLocal(u)) }).toEqual({ path, external: [] });
    }
    // The scan itself finds external URLs when there are some.
    expect(
      urlsOf('<a href="https://x.example">x</a><img src=//cdn.example/a.png>').filter(
        (u) => !isLocal(u),
      ),
    ).toHaveLength(2);
  });
});
