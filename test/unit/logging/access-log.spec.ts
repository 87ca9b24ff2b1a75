import { createServer, request as httpRequest, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pinoHttp } from 'pino-http';
import { loadConfig } from 'src/config/app-config';
import { onResponseEnd, writeAccessLine } from 'src/infra/logging/access-log';
import { rootLoggerOptions } from 'src/infra/logging/logger-options';

type Line = { msg: string; res: { statusCode: number }; req: { url: string }; level: number };

/** The access line's messages and its exclusions (src/infra/logging/access-log.ts). */
describe('access log', () => {
  let server: Server;
  let port: number;
  let lines: Line[];
  let ends: boolean[];
  let level = 'info';

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) {
          lines.push(JSON.parse(l) as Line);
        }
        done();
      },
    });
    const { logger } = pinoHttp(rootLoggerOptions(loadConfig({ LOG_LEVEL: 'info' })), sink);
    server = createServer((req, res) => {
      logger.level = level;
      const startedAt = Date.now();
      onResponseEnd(res, (finished) => {
        ends.push(finished);
        writeAccessLine(logger, req, res, Date.now() - startedAt);
      });
      if (req.url === '/boom') {
        res.statusCode = 500;
        res.end('no');
      } else if (req.url === '/hang') {
        res.write('partial'); // and never ends: the client leaves
      } else {
        res.end('ok');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  beforeEach(() => {
    lines = [];
    ends = [];
    level = 'info';
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  const settle = async (count: number) => {
    for (let i = 0; i < 100 && ends.length < count; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('says completed, errored (5xx) or aborted (the client left first)', async () => {
    await get('/ok');
    await get('/boom');
    await new Promise<void>((resolve) => {
      const req = httpRequest({ port, host: '127.0.0.1', path: '/hang' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.end();
    });
    await settle(3);
    expect(ends).toEqual([true, true, false]);
    expect(lines.map((l) => [l.req.url, l.res.statusCode, l.msg])).toEqual([
      ['/ok', 200, 'request completed'],
      ['/boom', 500, 'request errored'],
      ['/hang', 200, 'request aborted'],
    ]);
  });

  it('writes nothing for probes and scrapes, or below level info', async () => {
    await get('/health/live');
    await get('/metrics');
    await get('/healthy-looking/but-not');
    level = 'warn';
    await get('/ok');
    await settle(4);
    expect(ends).toHaveLength(4);
    expect(lines.map((l) => l.req.url)).toEqual(['/healthy-looking/but-not']);
  });
});
