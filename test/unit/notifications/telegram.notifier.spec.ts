import { loadConfig } from 'src/config/app-config';
import type { Alert } from 'src/modules/notifications/notifications.service';
import {
  escapeTelegramHtml,
  formatTelegramMessage,
  renderTelegramHtml,
  TELEGRAM_TEXT_LIMIT,
  TelegramNotifier,
} from 'src/modules/notifications/telegram.notifier';
import { parseTelegramHtml } from 'test/fakes/fake-telegram';

const alert = (overrides: Partial<Alert> = {}): Alert => ({
  key: 'k',
  severity: 'critical',
  title: 'Bounce rate 12 %',
  text: 'body',
  ...overrides,
});

describe(TelegramNotifier.name, () => {
  describe('escapeTelegramHtml', () => {
    it('escapes the characters HTML parse mode reserves, and quotes', () => {
      expect(escapeTelegramHtml(`a < b > c & "d" 'e'`)).toBe(
        'a &lt; b &gt; c &amp; &quot;d&quot; &#39;e&#39;',
      );
    });

    it('escapes an already escaped entity again (the text is shown as written)', () => {
      expect(escapeTelegramHtml('&lt;b&gt;')).toBe('&amp;lt;b&amp;gt;');
    });

    it('leaves ordinary text, newlines and emoji alone', () => {
      expect(escapeTelegramHtml('ok\n✅ 😀 é')).toBe('ok\n✅ 😀 é');
    });
  });

  describe('formatTelegramMessage', () => {
    it('shows provider text such as "550 <user@x>" verbatim to the reader', () => {
      const text = '550 5.1.1 <user@x.example>: Recipient address rejected & "no such user"';
      const html = formatTelegramMessage(alert({ text }));
      expect(html).toContain('550 5.1.1 &lt;user@x.example&gt;: Recipient address rejected &amp; ');
      expect(parseTelegramHtml(html)).toContain(text);
    });

    it('escapes the title, field names and values, and puts fields before the body', () => {
      const html = formatTelegramMessage(
        alert({
          title: 'Domain <b>evil</b>',
          fields: { 'rate <%>': '5 & 7', sent: 1200 },
          text: 'tail',
        }),
      );
      expect(html).toContain('<b>Domain &lt;b&gt;evil&lt;/b&gt;</b>');
      expect(html).toContain('<b>rate &lt;%&gt;:</b> 5 &amp; 7');
      expect(html).toContain('<b>sent:</b> 1200');
      const plain = parseTelegramHtml(html);
      expect(plain.indexOf('sent: 1200')).toBeLessThan(plain.indexOf('tail'));
    });

    it('links an http(s) url with an escaped href', () => {
      const html = formatTelegramMessage(alert({ url: 'https://x.example/d?a=1&b="2"' }));
      expect(html).toContain('<a href="https://x.example/d?a=1&amp;b=%222%22">Open</a>');
      expect(() => parseTelegramHtml(html)).not.toThrow();
    });

    it('shows a non-web url as plain text instead of a link', () => {
      const html = formatTelegramMessage(alert({ url: 'javascript:alert(1)' }));
      expect(html).not.toContain('<a ');
      expect(parseTelegramHtml(html)).toContain('javascript:alert(1)');
    });

    it('keeps the title on one line', () => {
      const html = formatTelegramMessage(alert({ title: 'a\nb\r\nc' }));
      expect(parseTelegramHtml(html).split('\n')[0]).toContain('a b c');
    });

    it('labels each severity', () => {
      expect(formatTelegramMessage(alert({ severity: 'critical' }))).toContain('CRITICAL');
      expect(formatTelegramMessage(alert({ severity: 'warning' }))).toContain('WARNING');
      expect(formatTelegramMessage(alert({ severity: 'info' }))).toContain('INFO');
    });

    it('truncates a long body to the limit with an ellipsis, still valid HTML', () => {
      const html = formatTelegramMessage(alert({ text: '<&>'.repeat(5000) }));
      expect(html.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
      expect(html.length).toBeGreaterThan(TELEGRAM_TEXT_LIMIT - 10);
      expect(html.endsWith('…')).toBe(true);
      expect(() => parseTelegramHtml(html)).not.toThrow();
    });

    it('never ends a truncated text inside an entity, whatever the cut point', () => {
      for (let pad = 0; pad < 8; pad++) {
        const html = formatTelegramMessage(alert({ text: 'x'.repeat(pad) + '"'.repeat(5000) }));
        expect(html.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
        expect(html).toMatch(/&quot;…$/);
        expect(() => parseTelegramHtml(html)).not.toThrow();
      }
    });

    it('never splits a surrogate pair', () => {
      const html = formatTelegramMessage(alert({ text: '😀'.repeat(5000) }));
      expect(html.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
      expect(html).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      expect(html.endsWith('😀…')).toBe(true);
    });

    it('stays within the limit and valid when the title and fields alone are huge', () => {
      const fields = Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [`f${i}<>`, '"&'.repeat(400)]),
      );
      const html = formatTelegramMessage(alert({ title: '<'.repeat(2000), fields }));
      expect(html.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
      expect(() => parseTelegramHtml(html)).not.toThrow();
    });
  });

  describe('renderTelegramHtml', () => {
    it('closes an open tag when the cut falls inside it', () => {
      const html = renderTelegramHtml([{ text: 'a'.repeat(50), bold: true }], 20);
      expect(html).toBe(`<b>${'a'.repeat(12)}</b>…`);
      expect(html.length).toBeLessThanOrEqual(20);
    });

    it('returns the text untouched when it fits', () => {
      expect(renderTelegramHtml([{ text: 'a<b' }, { text: 'c', bold: true }], 100)).toBe(
        'a&lt;b<b>c</b>',
      );
    });
  });

  describe('constructor', () => {
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });

    it('gives up after 10 s unless told otherwise', () => {
      expect(new TelegramNotifier(config).timeoutMs).toBe(10_000);
      expect(new TelegramNotifier(config, { timeoutMs: 50 }).timeoutMs).toBe(50);
    });

    it('is configured only with both a token and a chat id', () => {
      expect(new TelegramNotifier(config).configured).toBe(false);
      const tokenOnly = loadConfig({ NODE_ENV: 'test', TELEGRAM_BOT_TOKEN: '1:a' });
      expect(new TelegramNotifier(tokenOnly).configured).toBe(false);
      const both = loadConfig({
        NODE_ENV: 'test',
        TELEGRAM_BOT_TOKEN: '1:a',
        TELEGRAM_CHAT_ID: '5',
      });
      expect(new TelegramNotifier(both).configured).toBe(true);
    });
  });

  describe('send', () => {
    it('rejects without calling anything when not configured', async () => {
      const config = loadConfig({ NODE_ENV: 'test' });
      const fetchSpy = jest.spyOn(globalThis, 'fetch');
      await expect(new TelegramNotifier(config).send(alert())).rejects.toThrow(/not configured/);
      expect(fetchSpy).not.toHaveBeenCalled();
      fetchSpy.mockRestore();
    });
  });
});
