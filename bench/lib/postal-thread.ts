import { parentPort, workerData } from 'node:worker_threads';
import { TRACKED_RECIPIENT_MARK } from 'bench/lib/remote-postal';
import { FakePostal } from 'test/fakes/fake-postal';

/**
 * FakePostal on its own thread: a real Postal is never on the app's event loop, so the fake's
 * HTTP and JSON work must not be charged to it. The accepted count lives in shared memory.
 */
async function main(shared: SharedArrayBuffer): Promise<void> {
  const counter = new Int32Array(shared);
  const postal = new FakePostal({
    keepBodies: false,
    // Scenario (p): when each tracked message reached Postal, by its X-Email-Id.
    onAccepted: (m) => {
      if (m.body.to.some((to) => to.includes(TRACKED_RECIPIENT_MARK)))
        parentPort!.postMessage({ accepted: m.body.headers?.['X-Email-Id'], at: m.receivedAt });
    },
  });
  Object.defineProperty(postal, 'accepted', {
    get: () => Atomics.load(counter, 0),
    set: (v: number) => Atomics.store(counter, 0, v),
  });
  await postal.start();
  parentPort!.on('message', (msg: string) => {
    if (msg === 'stop') void postal.stop().then(() => parentPort!.close());
  });
  parentPort!.postMessage({ url: postal.url, apiKey: postal.apiKey });
}

void main((workerData as { shared: SharedArrayBuffer }).shared);
