import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pinoHttp from 'pino-http';
import { loadConfig } from 'src/config/app-config';
import { onResponseEnd, writeAccessLine } from 'src/infra/logging/access-log';
import { rootLoggerOptions } from 'src/infra/logging/logger-options';
import { redactUrl } from 'src/infra/logging/redact';

const TOKEN = 'AbCdEf0123456789_tokenValue-xyz';
const INBOUND = 'inbound-secret-0123456789';

/**
 * Runs real requests through the app's access log (root logger built as nestjs-pino builds it,
 * src/infra/logging/logging.module.ts); returns the log lines.
 */
async function logsOf(
  requests: Array<{ path: string; headers?: Record<string, string> }>,
): Promise<string> {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const { logger } = pinoHttp(rootLoggerOptions(loadConfig({ LOG_LEVEL: 'info' })), sink);
  const server: Server = createServer((req, res) => {
    const startedAt = Date.now();
    onResponseEnd(res, () => writeAccessLine(logger, req, res, Date.now() - startedAt));
    res.setHeader('Set-Cookie', `dashboard_csrf=${TOKEN}; HttpOnly`);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    for (const r of requests) {
      const res = await fetch(`http://127.0.0.1:${port}${r.path}`, { headers: r.headers });
      await res.text();
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
  return out;
}

/** Issue 11 item 8: no secret of any route reaches a request log line, however spelled. */
describe('HTTP log redaction', () => {
  it('drops tracking, unsubscribe and inbound secrets from the path, in any case', async () => {
    const paths = [
      `/t/o/${TOKEN}`,
      `/t/c/${TOKEN}`,
      `/T/C/${TOKEN}`,
      `/T/o/${TOKEN}?x=1`,
      `/unsubscribe/${TOKEN}`,
      `/UNSUBSCRIBE/${TOKEN}`,
      `//t//c/${TOKEN}`,
      `/%74/c/${TOKEN}`,
      `/api/v1/inbound/postal/${INBOUND}`,
      `/API/V1/Inbound/Postal/${INBOUND}`,
      `/api/v1/inbound/postal/${INBOUND}/`,
    ];
    const logs = await logsOf(paths.map((path) => ({ path })));
    expect(logs.split('\n').filter(Boolean)).toHaveLength(paths.length);
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(INBOUND);
    expect(logs).toContain('/T/C/[redacted]');
    expect(logs).toContain('/api/v1/inbound/postal/[redacted]');
  });

  it('drops credential query parameters and token-shaped values, keeps the rest', async () => {
    const logs = await logsOf([
      { path: `/api/v1/messages?status=sent&token=${INBOUND}&api_key=k1234567&limit=5` },
      { path: `/somewhere?x=${TOKEN}0123` },
    ]);
    expect(logs).not.toContain(INBOUND);
    expect(logs).not.toContain('k1234567');
    expect(logs).not.toContain(TOKEN);
    expect(logs).toContain('status=sent');
    expect(logs).toContain('limit=5');
  });

  it('drops Authorization, Cookie, Set-Cookie and token-bearing Referer headers', async () => {
    const logs = await logsOf([
      {
        path: '/api/v1/messages',
        headers: {
          Authorization: `Bearer esk_${TOKEN}`,
          Cookie: `dashboard_csrf=${TOKEN}`,
          'Proxy-Authorization': `Basic ${INBOUND}`,
          'X-Server-API-Key': INBOUND,
          Referer: `https://mail.example.com/unsubscribe/${TOKEN}`,
        },
      },
    ]);
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(INBOUND);
    expect(logs).toContain('https://mail.example.com/unsubscribe/[redacted]');
  });

  it('writes an access line: request id, method, URL, user agent, referer, status; no other header', async () => {
    const logs = await logsOf([
      {
        path: '/api/v1/messages?limit=5',
        headers: { 'User-Agent': 'acme-sdk/1.2', 'X-Tenant-Secret-Note': 'private-value' },
      },
    ]);
    const [line] = logs
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    // The request id comes from the app's request-id middleware (absent in this bare server).
    expect(line.req).toEqual({
      method: 'GET',
      url: '/api/v1/messages?limit=5',
      user_agent: 'acme-sdk/1.2',
    });
    expect(line.res).toEqual({ statusCode: 200 });
    expect(logs).not.toContain('private-value');
  });

  it('keeps ordinary paths (message ids, template names) readable', () => {
    const id = '0b7e6f6a-6a57-4c1e-9e39-7a4a2e2f7c11';
    expect(redactUrl(`/api/v1/status/${id}`)).toBe(`/api/v1/status/${id}`);
    expect(redactUrl('/api/v1/templates/welcome-email')).toBe('/api/v1/templates/welcome-email');
    expect(redactUrl('/dashboard/logs?status=failed')).toBe('/dashboard/logs?status=failed');
  });
});
