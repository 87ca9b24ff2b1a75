import { join } from 'node:path';
import { startTsThread } from 'bench/lib/threads';

/** Recipients whose arrival time the main thread is told (see RemotePostal.arrivals). */
export const TRACKED_RECIPIENT_MARK = '+track@';

/** The FakePostal running in a worker thread (see postal-thread.ts), seen from the main thread. */
export class RemotePostal {
  url = '';
  apiKey = '';
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly thread = startTsThread(join(__dirname, 'postal-thread.ts'), {
    shared: this.counter.buffer,
  });

  /** When each tracked message (TRACKED_RECIPIENT_MARK) reached Postal, by X-Email-Id (ms). */
  readonly arrivals = new Map<string, number>();

  /** Recipients accepted with `success` so far. */
  get accepted(): number {
    return Atomics.load(this.counter, 0);
  }

  async start(): Promise<this> {
    const ready = await new Promise<{ url: string; apiKey: string }>((resolve, reject) => {
      this.thread.once('message', resolve);
      this.thread.once('error', reject);
    });
    this.url = ready.url;
    this.apiKey = ready.apiKey;
    this.thread.on('message', (msg: { accepted?: string; at?: number }) => {
      if (msg.accepted && msg.at !== undefined) this.arrivals.set(msg.accepted, msg.at);
    });
    return this;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.thread.once('exit', resolve));
    this.thread.postMessage('stop');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    await this.thread.terminate();
  }
}
