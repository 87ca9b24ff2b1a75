import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { loadConfig } from 'src/config/app-config';
import { DeadlineQueue, WebhookHttpClient } from 'src/modules/event-webhooks/webhook-http.client';

/** A stand-in for a request in flight: settled by hand, or expired by the queue. */
class Call {
  settled = false;
  expired = false;
  constructor(readonly deadline: number) {}
  expire(): void {
    this.expired = true;
    this.settled = true;
  }
}

describe(DeadlineQueue.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('expires each unsettled call at its own deadline, and only those', () => {
    const q = new DeadlineQueue();
    const t0 = performance.now();
    const a = new Call(t0 + 100);
    const b = new Call(t0 + 200);
    const c = new Call(t0 + 300);
    for (const call of [a, b, c]) q.add(call);
    b.settled = true; // answered in time

    jest.advanceTimersByTime(99);
    expect([a.expired, b.expired, c.expired]).toEqual([false, false, false]);
    jest.advanceTimersByTime(1);
    expect([a.expired, b.expired, c.expired]).toEqual([true, false, false]);
    jest.advanceTimersByTime(199);
    expect(c.expired).toBe(false);
    jest.advanceTimersByTime(1);
    expect([a.expired, b.expired, c.expired]).toEqual([true, false, true]);
    expect(jest.getTimerCount()).toBe(0);
    q.close();
  });

  it('arms again for calls added after it went idle, and after many settled ones', () => {
    const q = new DeadlineQueue();
    let now = performance.now();
    const early = Array.from({ length: 5000 }, (_, i) => new Call(now + 10 + i / 1000));
    for (const call of early) q.add(call);
    for (const call of early) call.settled = true;
    jest.advanceTimersByTime(20);
    expect(early.some((c) => c.expired)).toBe(false);
    expect(jest.getTimerCount()).toBe(0);

    now = performance.now();
    const late = new Call(now + 50);
    q.add(late);
    jest.advanceTimersByTime(49);
    expect(late.expired).toBe(false);
    jest.advanceTimersByTime(1);
    expect(late.expired).toBe(true);
    q.close();
  });

  it('stops at close: nothing expires afterwards', () => {
    const q = new DeadlineQueue();
    const call = new Call(performance.now() + 10);
    q.add(call);
    q.close();
    jest.advanceTimersByTime(100);
    expect(call.expired).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });
});

/**
 * The client's deadline covers the whole exchange (README "Event webhooks": a 2xx within
 * WEBHOOK_TIMEOUT_MS is success), on real sockets: a server that sends its headers in time
 * but never finishes the body has not answered.
 */
describe(`${WebhookHttpClient.name} deadline`, () => {
  const TIMEOUT_MS = 1000;
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  let client: WebhookHttpClient;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/stall-body') {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
          res.write('partial'); // and never the rest
        } else if (req.url === '/stall-headers') {
          // nothing at all
        } else if (req.url === '/interim') {
          res.writeProcessing();
          res.writeHead(201, { 'content-type': 'text/plain' }).end('made');
        } else {
          res.writeHead(204).end();
        }
      });
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new WebhookHttpClient(
      loadConfig({
        NODE_ENV: 'test',
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      }),
    );
  });

  afterAll(async () => {
    await client.onApplicationShutdown();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('times out an answer whose body stalls after its headers', async () => {
    const res = await client.post(`${base}/stall-body`, {}, '{}');
    expect(res).toEqual({
      status: null,
      body: null,
      durationMs: expect.any(Number),
      error: `timed out after ${TIMEOUT_MS} ms`,
    });
    expect(res.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
  });

  it('times out a server that never answers, while requests beside it succeed', async () => {
    const [stalled, ...quick] = await Promise.all([
      client.post(`${base}/stall-headers`, {}, '{}'),
      ...Array.from({ length: 5 }, () => client.post(`${base}/ok`, {}, '{}')),
    ]);
    expect(stalled.status).toBeNull();
    expect(stalled.error).toBe(`timed out after ${TIMEOUT_MS} ms`);
    for (const r of quick) expect(r).toMatchObject({ status: 204, body: '', error: null });
  });

  it('takes the final status after an interim 1xx', async () => {
    const res = await client.post(`${base}/interim`, {}, '{}');
    expect(res).toMatchObject({ status: 201, body: 'made', error: null });
  });

  it('answers a malformed URL with an error instead of throwing', async () => {
    const res = await client.post('not a url', {}, '{}');
    expect(res.status).toBeNull();
    expect(res.error).toMatch(/invalid URL/);
  });
});
