import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';
import { sendBody } from 'bench/lib/content';

/** Runs in a worker thread so the load generator does not share the app's event loop. */
export interface SendLoadInput {
  url: string;
  apiKey: string;
  connections: number;
  durationS: number;
}

async function main(input: SendLoadInput): Promise<void> {
  const opts: autocannon.Options = {
    url: input.url,
    connections: input.connections,
    duration: input.durationS,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/send',
        headers: {
          authorization: `Bearer ${input.apiKey}`,
          'content-type': 'application/json',
        },
        // A fresh recipient for every request: no duplicate or idempotency effects.
        setupRequest: (req) => ({ ...req, body: sendBody() }),
      },
    ],
  };
  // Off the main thread autocannon leaves its histograms encoded.
  const raw = await autocannon(opts);
  parentPort!.postMessage(autocannon.aggregateResult([raw], opts));
}

main(workerData as SendLoadInput).catch((err: unknown) => {
  parentPort!.postMessage({ error: String((err as Error)?.stack ?? err) });
});
