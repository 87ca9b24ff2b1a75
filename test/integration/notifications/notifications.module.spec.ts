import request from 'supertest';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { SlackNotifier } from 'src/modules/notifications/slack.notifier';
import { TelegramNotifier } from 'src/modules/notifications/telegram.notifier';
import { FakeSlack } from 'test/fakes/fake-slack';
import { FakeTelegram } from 'test/fakes/fake-telegram';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

/** The module as the application wires it: config from the environment, metrics, shutdown. */
describe(NotificationsService.name, () => {
  let telegram: FakeTelegram;
  let slack: FakeSlack;
  let t: TestApp;
  let closed = false;

  beforeAll(async () => {
    telegram = await new FakeTelegram().start();
    slack = await new FakeSlack().start();
    t = await bootTestApp({ ...telegram.env(), ...slack.env() });
  });
  afterAll(async () => {
    if (!closed) await t.close();
    await telegram.stop();
    await slack.stop();
  });

  describe('alert', () => {
    it('uses the configured channels with the production 10 s timeout', () => {
      expect(t.app.get(TelegramNotifier).timeoutMs).toBe(10_000);
      expect(t.app.get(SlackNotifier).timeoutMs).toBe(10_000);
    });

    it('delivers to both fakes and counts alerts_sent_total', async () => {
      const service = t.app.get(NotificationsService);
      const key = `module-test-${Date.now()}`;
      await expect(
        service.alert({ key, severity: 'info', title: 'Hello <ops>', text: 'a & b' }),
      ).resolves.toEqual({ deduped: false, channels: ['telegram', 'slack'] });
      await service.whenIdle();

      expect(telegram.delivered).toHaveLength(1);
      expect(telegram.delivered[0].plainText).toContain('Hello <ops>');
      expect(slack.delivered).toHaveLength(1);
      const metrics = await request(t.server).get('/metrics').expect(200);
      expect(metrics.text).toMatch(
        /alerts_sent_total\{channel="telegram",severity="info",result="sent"\} 1/,
      );
      expect(metrics.text).toMatch(
        /alerts_sent_total\{channel="slack",severity="info",result="sent"\} 1/,
      );
    });
  });

  describe('beforeApplicationShutdown', () => {
    it('lets an in-flight send finish before the application closes', async () => {
      const service = t.app.get(NotificationsService);
      telegram.queueResponses({ kind: 'hang', ms: 300 });
      await service.alert({
        key: `shutdown-test-${Date.now()}`,
        severity: 'warning',
        title: 'Sent during shutdown',
        text: '',
      });
      const before = telegram.delivered.length;
      await t.close();
      closed = true;
      expect(telegram.delivered).toHaveLength(before + 1);
      expect(telegram.delivered[before].plainText).toContain('Sent during shutdown');
    });
  });
});
