import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionOptions, Queue } from 'bullmq';
import { Pool } from 'pg';
import { deliveryJob, detailsOf, RAW_INSERT_SQL } from 'bench/lib/content';

/**
 * The bare handlers the app's HTTP figures are compared with (bench/README.md (c) and (e)):
 * a plain `node:http` server, run as a child process of the bench (started by
 * bench/lib/bare-server-process.ts) so that it has an event loop and a process of its own, as
 * the app's API has. It does the least any implementation must do per request, on the same
 * PostgreSQL and Redis:
 * - `send`: parse the JSON body, one INSERT of the message row with its `queued` event (the
 *   statement of `insertMessages`, for one row) and one BullMQ `Queue.add` to a queue no worker
 *   reads; 202 with a JSON body.
 * - `webhook`: read the raw body, verify Postal's RSA-SHA256 signature (`X-Postal-Signature-256`,
 *   PKCS#1 v1.5 over the raw bytes, as test/fakes/postal-webhook-signer.ts signs), parse it and
 *   insert the row into a table shaped like `webhook_events`; 200.
 */
export interface BareServerConfig {
  kind: 'send' | 'webhook';
  databaseUrl: string;
  poolSize: number;
  /** `send`: the queue the jobs go to, under `bullPrefix`. */
  queueName?: string;
  bullConnection?: ConnectionOptions;
  bullPrefix?: string;
  /** `send`: the rows' api key, sender, template and batch (the batch id marks them for clean-up). */
  row?: { apiKeyId: number; templateId: number | null; batchId: string };
  /** `webhook`: the key Postal signs with (its public half verifies) and the table to fill. */
  privateKeyPem?: string;
  table?: string;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

async function main(config: BareServerConfig): Promise<void> {
  const pool = new Pool({ connectionString: config.databaseUrl, max: config.poolSize });
  const queue =
    config.kind === 'send'
      ? new Queue(config.queueName!, {
          connection: config.bullConnection!,
          prefix: config.bullPrefix,
        })
      : undefined;
  const publicKey = config.privateKeyPem ? createPublicKey(config.privateKeyPem) : undefined;

  const send = async (raw: Buffer, res: ServerResponse): Promise<void> => {
    const dto = JSON.parse(raw.toString('utf8')) as {
      to: string;
      from: string;
      campaign_id?: string;
      tag?: string;
      variables?: Record<string, unknown>;
    };
    const id = randomUUID();
    const row = config.row!;
    await pool.query(RAW_INSERT_SQL, [
      [id],
      [row.apiKeyId],
      [row.templateId],
      [row.batchId],
      [dto.campaign_id ?? null],
      [dto.tag ?? null],
      [dto.to],
      [dto.from],
      [null],
      [null],
      [JSON.stringify(detailsOf(dto.variables ?? {}))],
    ]);
    const job = deliveryJob(id, dto.to);
    await queue!.add(job.name, job.data, job.opts);
    answer(res, 202, { message_id: id, status: 'queued' });
  };

  const webhook = async (raw: Buffer, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const signature = req.headers['x-postal-signature-256'];
    if (
      typeof signature !== 'string' ||
      !verify('sha256', raw, publicKey!, Buffer.from(signature, 'base64'))
    ) {
      answer(res, 401, { error: { code: 'unauthorized' } });
      return;
    }
    const event = JSON.parse(raw.toString('utf8')) as { uuid: string; event: string };
    await pool.query(
      `INSERT INTO ${config.table} (uuid, event, payload) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (uuid) DO NOTHING`,
      [event.uuid, event.event, raw.toString('utf8')],
    );
    answer(res, 200, { status: 'ok' });
  };

  const server = createServer((req, res) => {
    readBody(req)
      .then((raw) => (config.kind === 'send' ? send(raw, res) : webhook(raw, req, res)))
      .catch((err: unknown) => answer(res, 500, { error: String(err) }));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (msg: unknown) => {
    if (msg !== 'stop') return;
    server.close();
    server.closeAllConnections();
    void Promise.all([pool.end(), queue?.close()]).finally(() => process.exit(0));
  });
  process.send!({ port: (server.address() as AddressInfo).port });
}

main(JSON.parse(process.env.BARE_SERVER_CONFIG ?? '{}') as BareServerConfig).catch(
  (err: unknown) => {
    process.stderr.write(`bare server: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
