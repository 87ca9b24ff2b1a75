import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger, LoggerService } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { AppConfig, loadConfig } from 'src/config/app-config';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import type { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';
import { RedisService } from 'src/infra/redis/redis.service';
import {
  ALERT_DEDUPE_TTL_S,
  Alert,
  NotificationsService,
} from 'src/modules/notifications/notifications.service';
import { SlackNotifier } from 'src/modules/notifications/slack.notifier';
import { TelegramNotifier } from 'src/modules/notifications/telegram.notifier';
import { FakeSlack } from 'test/fakes/fake-slack';
import { FakeTelegram } from 'test/fakes/fake-telegram';
import { clearRedisPrefix, TEST_REDIS_URL } from 'test/utils/test-app';
import { testRedisPrefix } from 'test/utils/test-db';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(30_000);

/**
 * Production keeps the 10 s timeout (asserted in the unit tests); these tests pass a shorter one
 * through the notifiers' constructor option so a hanging fake is abandoned sooner. It must still
 * exceed a loopback round trip on a loaded 2-core machine (400 ms did not: answered requests
 * were counted as timed out), so tests that need a short one pass their own.
 */
const TEST_TIMEOUT_MS = 5_000;

interface LogLine {
  level: string;
  args: unknown[];
}

/** Captures what Nest loggers write (each NotificationsService line is one call). */
class CapturingLogger implements LoggerService {
  readonly lines: LogLine[] = [];
  log = (...args: unknown[]): void => void this.lines.push({ level: 'log', args });
  error = (...args: unknown[]): void => void this.lines.push({ level: 'error', args });
  warn = (...args: unknown[]): void => void this.lines.push({ level: 'warn', args });
  debug = (...args: unknown[]): void => void this.lines.push({ level: 'debug', args });
  verbose = (...args: unknown[]): void => void this.lines.push({ level: 'verbose', args });
  fatal = (...args: unknown[]): void => void this.lines.push({ level: 'fatal', args });

  /** Lines from NotificationsService (Nest appends the context as the last argument). */
  fromService(): LogLine[] {
    return this.lines.filter((l) => l.args[l.args.length - 1] === NotificationsService.name);
  }

  all(): string {
    return JSON.stringify(this.lines);
  }
}

interface Process {
  config: AppConfig;
  redis: RedisService;
  metrics: MetricsService;
  service: NotificationsService;
}

const noQueues = { depths: async () => ({}) } as unknown as QueueMonitorService;

function baseConfig(prefix: string, env: Record<string, string>): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/** What one app process would hold: its own Redis client, registry and service. */
async function makeProcess(config: AppConfig, timeoutMs = TEST_TIMEOUT_MS): Promise<Process> {
  const redis = new RedisService(config);
  await redis.onModuleInit();
  const metrics = new MetricsService(noQueues, config);
  const service = new NotificationsService(
    redis,
    new TelegramNotifier(config, { timeoutMs }),
    new SlackNotifier(config, { timeoutMs }),
    metrics,
  );
  return { config, redis, metrics, service };
}

async function sentCount(
  metrics: MetricsService,
  labels: { channel: string; severity: string; result: string },
): Promise<number> {
  const counter = metrics.registry.getSingleMetric('alerts_sent_total') as Counter | undefined;
  if (!counter) return 0;
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((n, v) => n + v.value, 0);
}

/** A local URL nothing listens on (a port we bound and released). */
async function unusedLocalUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

let seq = 0;
const makeAlert = (overrides: Partial<Alert> = {}): Alert => ({
  key: `test-alert-${++seq}-${Date.now()}`,
  severity: 'critical',
  title: 'Bounce rate 12 % over the last hour',
  text: 'Top error: 550 5.1.1 <user@x.example>: Recipient address rejected & "unknown"',
  fields: { domain: 'gmail.com', bounce_rate: '12.0 %', sent: 1200 },
  url: 'https://mail.example/dashboard/reports/1',
  ...overrides,
});

describe(NotificationsService.name, () => {
  const prefix = testRedisPrefix();
  const logs = new CapturingLogger();
  let telegram: FakeTelegram;
  let slack: FakeSlack;
  const processes: Process[] = [];

  async function start(env: Record<string, string>, timeoutMs?: number): Promise<Process> {
    const p = await makeProcess(baseConfig(prefix, env), timeoutMs);
    processes.push(p);
    return p;
  }
  const both = (): Record<string, string> => ({ ...telegram.env(), ...slack.env() });

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    telegram = await new FakeTelegram().start();
    slack = await new FakeSlack().start();
  });
  afterAll(async () => {
    for (const p of processes) {
      await p.service.whenIdle();
      await p.redis.onApplicationShutdown();
    }
    await telegram.stop();
    await slack.stop();
    await clearRedisPrefix(prefix);
  });
  afterEach(() => {
    // No test may leak a secret into the logs, whatever path it took.
    expect(logs.all()).not.toContain(telegram.token);
    expect(logs.all()).not.toContain(slack.path);
    telegram.requests.length = 0;
    slack.requests.length = 0;
    logs.lines.length = 0;
  });

  describe('alert', () => {
    it('sends Telegram an HTML sendMessage with the chat id and escaped text', async () => {
      const { service, metrics } = await start(both());
      const alert = makeAlert();
      await expect(service.alert(alert)).resolves.toEqual({
        deduped: false,
        channels: ['telegram', 'slack'],
      });
      await service.whenIdle();

      expect(telegram.requests).toHaveLength(1);
      const [req] = telegram.requests;
      expect(req.path).toBe('/bot[token]/sendMessage');
      expect(req.rejected).toBeUndefined();
      expect(req.body).toEqual({
        chat_id: telegram.chatId,
        text: expect.any(String),
        parse_mode: 'HTML',
        disable_web_page_preview: true,
      });
      expect(req.body.text).toContain('550 5.1.1 &lt;user@x.example&gt;: Recipient address');
      // The fake parsed the HTML like Telegram: the reader sees the provider text verbatim.
      expect(req.plainText).toContain(alert.text);
      expect(req.plainText).toContain(alert.title);
      expect(req.plainText).toContain('domain: gmail.com');
      expect(req.body.text).toContain(`<a href="${alert.url}">`);
      await expect(
        sentCount(metrics, { channel: 'telegram', severity: 'critical', result: 'sent' }),
      ).resolves.toBe(1);
    });

    it('sends Slack one attachment coloured by severity, with fields, footer and ts', async () => {
      const { service, metrics } = await start(slack.env());
      const expected = { critical: '#d92d20', warning: '#f79009', info: '#2e90fa' } as const;
      for (const severity of ['critical', 'warning', 'info'] as const) {
        await expect(service.alert(makeAlert({ severity }))).resolves.toEqual({
          deduped: false,
          channels: ['slack'],
        });
      }
      await service.whenIdle();

      expect(slack.delivered).toHaveLength(3);
      // Deliveries run concurrently: match each request to its alert by the severity it names.
      const bySeverity = Object.fromEntries(
        slack.requests.map((r) => [
          /^\[([A-Z]+)\]/.exec(String(r.body.text))![1].toLowerCase(),
          (r.body.attachments as Array<{ color: string }>)[0].color,
        ]),
      );
      expect(bySeverity).toEqual(expected);
      const first = slack.requests.find((r) => String(r.body.text).startsWith('[CRITICAL]'))!;
      expect(first.contentType).toBe('application/json');
      expect(first.body).toEqual({
        text: '[CRITICAL] Bounce rate 12 % over the last hour',
        attachments: [
          {
            fallback: '[CRITICAL] Bounce rate 12 % over the last hour',
            color: '#d92d20',
            title: 'Bounce rate 12 % over the last hour',
            title_link: 'https://mail.example/dashboard/reports/1',
            text: 'Top error: 550 5.1.1 &lt;user@x.example&gt;: Recipient address rejected &amp; "unknown"',
            fields: [
              { title: 'domain', value: 'gmail.com', short: true },
              { title: 'bounce_rate', value: '12.0 %', short: true },
              { title: 'sent', value: '1200', short: true },
            ],
            footer: expect.stringMatching(/^email-sender · test-alert-/),
            ts: expect.any(Number),
          },
        ],
      });
      const ts = (first.body.attachments as Array<{ ts: number }>)[0].ts;
      expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
      await expect(
        sentCount(metrics, { channel: 'slack', severity: 'warning', result: 'sent' }),
      ).resolves.toBe(1);
    });

    it('calls only the configured channels', async () => {
      const slackOnly = await start(slack.env());
      const telegramOnly = await start(telegram.env());
      await expect(slackOnly.service.alert(makeAlert())).resolves.toEqual({
        deduped: false,
        channels: ['slack'],
      });
      await slackOnly.service.whenIdle();
      expect(slack.requests).toHaveLength(1);
      expect(telegram.requests).toHaveLength(0);

      await expect(telegramOnly.service.alert(makeAlert())).resolves.toEqual({
        deduped: false,
        channels: ['telegram'],
      });
      await telegramOnly.service.whenIdle();
      expect(slack.requests).toHaveLength(1);
      expect(telegram.requests).toHaveLength(1);
    });

    it('writes one structured log line per alert, at the severity level, even with no channel', async () => {
      const { service } = await start({});
      const alert = makeAlert({ severity: 'warning' });
      await expect(service.alert(alert)).resolves.toEqual({ deduped: false, channels: [] });
      await service.whenIdle();

      expect(telegram.requests).toHaveLength(0);
      expect(slack.requests).toHaveLength(0);
      const lines = logs.fromService();
      expect(lines).toHaveLength(1);
      expect(lines[0].level).toBe('warn');
      expect(lines[0].args[0]).toEqual({
        alert_key: alert.key,
        severity: 'warning',
        title: alert.title,
        text: alert.text,
        fields: alert.fields,
        url: alert.url,
        channels: [],
      });
      expect(lines[0].args[1]).toBe(`ALERT WARNING: ${alert.title}`);

      await service.alert(makeAlert({ severity: 'critical' }));
      await service.alert(makeAlert({ severity: 'info' }));
      expect(logs.fromService().map((l) => l.level)).toEqual(['warn', 'error', 'log']);
    });

    it('resolves in well under a second while a channel hangs, and abandons it at the timeout', async () => {
      // Longer than the 1 s bound below, so a caller that waited for the channels would fail.
      const timeoutMs = 2000;
      const { service, metrics } = await start(both(), timeoutMs);
      telegram.queueResponses({ kind: 'hang', ms: 15_000 });
      slack.queueResponses({ kind: 'hang', ms: 15_000 });

      const started = performance.now();
      await expect(service.alert(makeAlert())).resolves.toEqual({
        deduped: false,
        channels: ['telegram', 'slack'],
      });
      // The contract, not a benchmark: the caller never waits for a channel.
      expect(performance.now() - started).toBeLessThan(1000);

      await service.whenIdle();
      const abandonedAfter = performance.now() - started;
      // Abandoned at the timeout, long before the fakes would have answered (15 s).
      expect(abandonedAfter).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(abandonedAfter).toBeLessThan(timeoutMs + 4000);
      expect(telegram.requests).toHaveLength(1);
      expect(slack.requests).toHaveLength(1);
      // Give the fakes' sockets a moment to see the client go away.
      await new Promise((r) => setTimeout(r, 50));
      expect(telegram.requests[0].aborted).toBe(true);
      expect(slack.requests[0].aborted).toBe(true);
      await expect(
        sentCount(metrics, { channel: 'telegram', severity: 'critical', result: 'failed' }),
      ).resolves.toBe(1);
      const failures = logs.fromService().filter((l) => l.level === 'warn');
      expect(failures.map((l) => l.args[0])).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            channel: 'telegram',
            err: expect.stringContaining(`timed out after ${timeoutMs} ms`),
          }),
          expect.objectContaining({
            channel: 'slack',
            err: expect.stringContaining(`timed out after ${timeoutMs} ms`),
          }),
        ]),
      );
    });

    it('delivers to Slack while Telegram hangs (one slow channel does not hold the other)', async () => {
      const { service } = await start(both());
      telegram.queueResponses({ kind: 'hang', ms: 15_000 });
      await service.alert(makeAlert());
      // Slack's answer arrives while Telegram's request is still open (not yet timed out).
      await waitFor(() => slack.delivered.length === 1, 'the Slack delivery', TEST_TIMEOUT_MS);
      expect(telegram.requests).toHaveLength(1);
      expect(telegram.requests[0].aborted).toBe(false);
      await service.whenIdle();
      expect(slack.delivered).toHaveLength(1);
    });

    it("a failing channel doesn't affect the other", async () => {
      const { service, metrics } = await start(both());
      telegram.queueResponses({
        kind: 'error',
        errorCode: 403,
        description: 'Forbidden: bot was kicked from the supergroup chat',
      });
      await service.alert(makeAlert({ severity: 'warning' }));
      slack.queueResponses({ kind: 'error', status: 410, body: 'channel_is_archived' });
      await service.alert(makeAlert({ severity: 'warning' }));
      slack.queueResponses({ kind: 'error', status: 400, body: 'invalid_payload' });
      await service.alert(makeAlert({ severity: 'warning' }));
      await service.whenIdle();

      expect(telegram.delivered).toHaveLength(2);
      expect(slack.delivered).toHaveLength(1);
      const count = (channel: string, result: string): Promise<number> =>
        sentCount(metrics, { channel, severity: 'warning', result });
      await expect(count('telegram', 'sent')).resolves.toBe(2);
      await expect(count('telegram', 'failed')).resolves.toBe(1);
      await expect(count('slack', 'sent')).resolves.toBe(1);
      await expect(count('slack', 'failed')).resolves.toBe(2);
      const errors = logs
        .fromService()
        .map((l) => (l.args[0] as { err?: string }).err)
        .filter(Boolean);
      expect(errors).toEqual([
        'Telegram sendMessage failed: 403 Forbidden: bot was kicked from the supergroup chat',
        'Slack webhook answered HTTP 410: channel_is_archived',
        'Slack webhook answered HTTP 400: invalid_payload',
      ]);
    });

    it('treats a Telegram answer without ok:true as a failure', async () => {
      const { service, metrics } = await start(telegram.env());
      telegram.queueResponses({ kind: 'http', status: 502, body: '<html>Bad Gateway</html>' });
      await service.alert(makeAlert({ severity: 'info' }));
      await service.whenIdle();
      await expect(
        sentCount(metrics, { channel: 'telegram', severity: 'info', result: 'failed' }),
      ).resolves.toBe(1);
      expect(logs.all()).toContain('HTTP 502 with a non-JSON body');
    });

    it('never throws, even with garbage URLs, unreachable hosts or a wrong token', async () => {
      const base = baseConfig(prefix, {});
      const closedUrl = await unusedLocalUrl();
      const configs = [
        new AppConfig({
          ...base,
          telegram: { botToken: telegram.token, chatId: '1', apiUrl: 'not a url' },
          slackWebhookUrl: `ht!tp://${slack.path}`,
        }),
        new AppConfig({
          ...base,
          // Nothing listens there: connection refused.
          telegram: { botToken: telegram.token, chatId: '1', apiUrl: closedUrl },
          slackWebhookUrl: `${closedUrl}${slack.path}`,
        }),
        new AppConfig({
          ...base,
          telegram: { botToken: 'wrong:token', chatId: telegram.chatId, apiUrl: telegram.url },
          slackWebhookUrl: `${slack.url}/../nope`,
        }),
      ];
      for (const config of configs) {
        const p = await makeProcess(config);
        processes.push(p);
        await expect(p.service.alert(makeAlert())).resolves.toEqual({
          deduped: false,
          channels: ['telegram', 'slack'],
        });
        await expect(p.service.whenIdle()).resolves.toBeUndefined();
        await expect(
          sentCount(p.metrics, { channel: 'telegram', severity: 'critical', result: 'failed' }),
        ).resolves.toBe(1);
        await expect(
          sentCount(p.metrics, { channel: 'slack', severity: 'critical', result: 'failed' }),
        ).resolves.toBe(1);
      }
      const errors = logs
        .fromService()
        .map((l) => (l.args[0] as { err?: string }).err)
        .filter(Boolean);
      // The two channels of one alert run concurrently: compare without order.
      expect(errors.sort()).toEqual([
        'Slack webhook answered HTTP 404: no_service',
        'Slack webhook failed: TypeError: ECONNREFUSED',
        'Slack webhook failed: invalid URL',
        'Telegram sendMessage failed: 401 Unauthorized',
        'Telegram sendMessage failed: TypeError: ECONNREFUSED',
        'Telegram sendMessage failed: invalid URL',
      ]);
    });

    it('never throws on input that breaks the type (JS callers, bad casts)', async () => {
      const { service } = await start(both());
      await expect(service.alert(null as unknown as Alert)).resolves.toMatchObject({
        deduped: false,
      });
      await expect(
        service.alert({
          key: `odd-${Date.now()}`,
          severity: 'bogus',
          title: 42,
          text: undefined,
          fields: { a: null, b: 1 },
        } as unknown as Alert),
      ).resolves.toEqual({ deduped: false, channels: ['telegram', 'slack'] });
      await service.whenIdle();
      expect(telegram.delivered).toHaveLength(2);
      expect(slack.delivered).toHaveLength(2);
    });
  });

  describe('dedupe', () => {
    it('sends the same key once within 30 minutes, and a different key again', async () => {
      const { service, redis } = await start(both());
      const alert = makeAlert();
      await expect(service.alert(alert)).resolves.toMatchObject({ deduped: false });
      await expect(service.alert({ ...alert, text: 'changed text' })).resolves.toEqual({
        deduped: true,
        channels: [],
      });
      await expect(service.alert(makeAlert())).resolves.toMatchObject({ deduped: false });
      await service.whenIdle();

      expect(telegram.delivered).toHaveLength(2);
      expect(slack.delivered).toHaveLength(2);
      const ttl = await redis.client.ttl(redis.key('alert-sent', alert.key));
      expect(ttl).toBeGreaterThan(ALERT_DEDUPE_TTL_S - 10);
      expect(ttl).toBeLessThanOrEqual(30 * 60);
    });

    it('holds across two service instances sharing Redis (like two processes)', async () => {
      const a = await start(both());
      const b = await start(both());
      const alert = makeAlert();
      await expect(a.service.alert(alert)).resolves.toMatchObject({ deduped: false });
      await expect(b.service.alert(alert)).resolves.toEqual({ deduped: true, channels: [] });

      // Racing: exactly one of the two processes wins.
      const raced = makeAlert();
      const outcomes = await Promise.all([a.service.alert(raced), b.service.alert(raced)]);
      expect(outcomes.filter((o) => !o.deduped)).toHaveLength(1);
      await Promise.all([a.service.whenIdle(), b.service.whenIdle()]);
      expect(telegram.delivered).toHaveLength(2);
      expect(slack.delivered).toHaveLength(2);
    });

    it('lets the next occurrence through when every channel failed', async () => {
      const { service } = await start(both());
      const alert = makeAlert();
      telegram.queueResponses({
        kind: 'error',
        errorCode: 429,
        description: 'Too Many Requests: retry after 5',
      });
      slack.queueResponses({ kind: 'error', status: 400, body: 'invalid_payload' });
      await service.alert(alert);
      await service.whenIdle();
      expect(telegram.delivered).toHaveLength(0);

      await expect(service.alert(alert)).resolves.toMatchObject({ deduped: false });
      await service.whenIdle();
      expect(telegram.delivered).toHaveLength(1);
      expect(slack.delivered).toHaveLength(1);
      await expect(service.alert(alert)).resolves.toMatchObject({ deduped: true });
    });

    it('sends anyway when Redis is down, and logs it', async () => {
      const p = await start(both());
      // What ioredis (no offline queue) answers during an outage. A real unreachable Redis
      // gives the same rejection but leaves ioredis timers behind that hold Jest open.
      jest
        .spyOn(p.redis.client, 'set')
        .mockRejectedValue(
          new Error("Stream isn't writeable and enableOfflineQueue options is false"),
        );
      const alert = makeAlert();
      await expect(p.service.alert(alert)).resolves.toEqual({
        deduped: false,
        channels: ['telegram', 'slack'],
      });
      // Still deduped within this process, so an outage doesn't turn into an alert storm.
      await expect(p.service.alert(alert)).resolves.toEqual({ deduped: true, channels: [] });
      await p.service.whenIdle();
      expect(telegram.delivered).toHaveLength(1);
      expect(slack.delivered).toHaveLength(1);
      const warned = logs
        .fromService()
        .filter((l) => l.level === 'warn')
        .map((l) => l.args[1]);
      expect(warned).toContain('alert dedupe check failed (Redis unavailable); sending anyway');
    });
  });

  describe('whenIdle', () => {
    it('resolves at once when nothing is in flight', async () => {
      const { service } = await start({});
      await expect(service.whenIdle()).resolves.toBeUndefined();
    });

    it('waits for a slow but successful channel', async () => {
      const { service } = await start(telegram.env());
      telegram.queueResponses({ kind: 'hang', ms: 150 });
      await service.alert(makeAlert());
      expect(telegram.delivered).toHaveLength(0);
      await service.whenIdle();
      expect(telegram.delivered).toHaveLength(1);
    });
  });
});
