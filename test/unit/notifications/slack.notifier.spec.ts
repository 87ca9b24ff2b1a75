import { loadConfig } from 'src/config/app-config';
import type { Alert } from 'src/modules/notifications/notifications.service';
import {
  buildSlackPayload,
  escapeSlackText,
  SLACK_COLORS,
  SlackNotifier,
} from 'src/modules/notifications/slack.notifier';

const alert = (overrides: Partial<Alert> = {}): Alert => ({
  key: 'bounce-rate:global',
  severity: 'critical',
  title: 'Bounce rate 12 %',
  text: 'body',
  ...overrides,
});

describe(SlackNotifier.name, () => {
  describe('escapeSlackText', () => {
    it('escapes &, < and > and nothing else (Slack decodes only those)', () => {
      expect(escapeSlackText(`<!channel> a & b > "c" 'd'`)).toBe(
        `&lt;!channel&gt; a &amp; b &gt; "c" 'd'`,
      );
    });

    it('turns provider text like "550 <user@x>" into inert text', () => {
      expect(escapeSlackText('550 <user@x.example>')).toBe('550 &lt;user@x.example&gt;');
    });
  });

  describe('buildSlackPayload', () => {
    it('builds a fallback line and one attachment with the documented shape', () => {
      const payload = buildSlackPayload(
        alert({
          fields: { domain: 'gmail.com', sent: 1200 },
          url: 'https://mail.example/dashboard',
        }),
        1_700_000_000_123,
      );
      expect(payload).toEqual({
        text: '[CRITICAL] Bounce rate 12 %',
        attachments: [
          {
            fallback: '[CRITICAL] Bounce rate 12 %',
            color: '#d92d20',
            title: 'Bounce rate 12 %',
            title_link: 'https://mail.example/dashboard',
            text: 'body',
            fields: [
              { title: 'domain', value: 'gmail.com', short: true },
              { title: 'sent', value: '1200', short: true },
            ],
            footer: 'email-sender · bounce-rate:global',
            ts: 1_700_000_000,
          },
        ],
      });
    });

    it.each([
      ['critical', '#d92d20'],
      ['warning', '#f79009'],
      ['info', '#2e90fa'],
    ] as const)('colours a %s alert %s', (severity, color) => {
      expect(buildSlackPayload(alert({ severity })).attachments[0].color).toBe(color);
      expect(SLACK_COLORS[severity]).toBe(color);
    });

    it('escapes the title, text, fields and fallback', () => {
      const payload = buildSlackPayload(
        alert({ title: '<!here> x', text: '550 <user@x> & co', fields: { '<a>': '<b>' } }),
      );
      const a = payload.attachments[0];
      expect(payload.text).toBe('[CRITICAL] &lt;!here&gt; x');
      expect(a.title).toBe('&lt;!here&gt; x');
      expect(a.text).toBe('550 &lt;user@x&gt; &amp; co');
      expect(a.fields).toEqual([{ title: '&lt;a&gt;', value: '&lt;b&gt;', short: true }]);
    });

    it('marks long field values as not short', () => {
      const a = buildSlackPayload(alert({ fields: { error: 'x'.repeat(41) } })).attachments[0];
      expect(a.fields[0].short).toBe(false);
    });

    it('truncates a long text before escaping, so no entity is split', () => {
      const a = buildSlackPayload(alert({ text: '&'.repeat(10_000) })).attachments[0];
      expect(a.text.endsWith('&amp;…')).toBe(true);
      expect(a.text.replace(/&amp;/g, '')).toBe('…');
    });

    it('omits title_link for a non-web url and shows it in the text instead', () => {
      const a = buildSlackPayload(alert({ url: 'javascript:alert(1)' })).attachments[0];
      expect(a).not.toHaveProperty('title_link');
      expect(a.text).toContain('javascript:alert(1)');
    });
  });

  describe('constructor', () => {
    it('gives up after 10 s unless told otherwise', () => {
      const config = loadConfig({ NODE_ENV: 'test' });
      expect(new SlackNotifier(config).timeoutMs).toBe(10_000);
      expect(new SlackNotifier(config, { timeoutMs: 50 }).timeoutMs).toBe(50);
    });

    it('is configured only with a webhook URL', () => {
      expect(new SlackNotifier(loadConfig({ NODE_ENV: 'test' })).configured).toBe(false);
      const config = loadConfig({
        NODE_ENV: 'test',
        SLACK_WEBHOOK_URL: 'https://hooks.slack.com/x',
      });
      expect(new SlackNotifier(config).configured).toBe(true);
    });
  });

  describe('send', () => {
    it('rejects without calling anything when not configured', async () => {
      const fetchSpy = jest.spyOn(globalThis, 'fetch');
      await expect(
        new SlackNotifier(loadConfig({ NODE_ENV: 'test' })).send(alert()),
      ).rejects.toThrow(/not configured/);
      expect(fetchSpy).not.toHaveBeenCalled();
      fetchSpy.mockRestore();
    });
  });
});
