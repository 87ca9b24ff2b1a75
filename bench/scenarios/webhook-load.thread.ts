import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';

/** Runs in a worker thread: signs the events up front, then posts them as fast as allowed. */
export interface WebhookLoadInput {
  url: string;
  privateKeyPem: string;
  /** Postal ids of messages the app sent (provider_message_id), one event each. */
  postalIds: string[];
  connections: number;
}

/** Rails' JSON escaping, as Postal serialises webhook bodies. */
const railsJson = (v: unknown): string =>
  JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

async function main(input: WebhookLoadInput): Promise<void> {
  const key = createPrivateKey(input.privateKeyPem);
  const requests = input.postalIds.map((id) => {
    const body = railsJson({
      event: 'MessageSent',
      timestamp: Date.now() / 1000,
      uuid: randomUUID(),
      payload: {
        message: {
          id: Number(id),
          token: `tok${id}`,
          direction: 'outgoing',
          message_id: `${id}@bench`,
          to: 'a@b',
          from: 'c@d',
          subject: 'Hi <you> & me',
          timestamp: Date.now() / 1000,
          spam_status: 'NotChecked',
          tag: null,
        },
        status: 'Sent',
        details: 'Message for a@b accepted by mx.bench.example',
        output: '250 2.0.0 OK',
        sent_with_ssl: true,
        timestamp: Date.now() / 1000,
        time: 0.12,
      },
    });
    const raw = Buffer.from(body);
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-postal-signature-256': sign('sha256', raw, key).toString('base64'),
        'x-postal-signature': sign('sha1', raw, key).toString('base64'),
      },
    };
  });
  let next = 0;
  const opts: autocannon.Options = {
    url: input.url,
    connections: input.connections,
    amount: requests.length,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/webhook',
        setupRequest: (req) => {
          const r = requests[next++ % requests.length];
          return { ...req, body: r.body, headers: r.headers };
        },
      },
    ],
  };
  parentPort!.postMessage({ signed: requests.length });
  const raw = await autocannon(opts);
  parentPort!.postMessage(autocannon.aggregateResult([raw], opts));
}

main(workerData as WebhookLoadInput).catch((err: unknown) => {
  parentPort!.postMessage({ error: String((err as Error)?.stack ?? err) });
});
