import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a test can make the next webhook request(s) do. */
export type SlackScript =
  { kind: 'error'; status: number; body: string } | { kind: 'hang'; ms: number };

export interface SlackRequest {
  body: Record<string, unknown>;
  contentType?: string;
  /** The plain-text error Slack answered with, if any. */
  rejected?: string;
  /** The client went away before an answer (e.g. its timeout fired while we hung). */
  aborted: boolean;
}

/**
 * A local Slack incoming webhook (`POST /services/T…/B…/<secret>`) speaking the wire format:
 * plain-text `ok` with HTTP 200, or a plain-text error code (`invalid_payload`, `no_text`,
 * `no_service`, `channel_is_archived`, …) with HTTP 4xx.
 */
export class FakeSlack {
  readonly path = `/services/T0FAKE/B0FAKE/${randomBytes(12).toString('hex')}`;
  readonly requests: SlackRequest[] = [];
  url = '';
  private readonly script: SlackScript[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: Server;

  /** Env for the app under test. */
  env(): Record<string, string> {
    return { SLACK_WEBHOOK_URL: this.url };
  }

  /** Payloads Slack accepted. */
  get delivered(): SlackRequest[] {
    return this.requests.filter((r) => !r.rejected && !r.aborted);
  }

  /** The next requests follow these steps, then `ok` again. */
  queueResponses(...steps: SlackScript[]): this {
    this.script.push(...steps);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.path}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private reply(res: ServerResponse, status: number, text: string): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'text/html' });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method !== 'POST') return this.reply(res, 405, 'invalid_method');
    if (req.url !== this.path) return this.reply(res, 404, 'no_service');

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return this.reply(res, 400, 'invalid_payload');
    }
    const record: SlackRequest = { body, contentType: req.headers['content-type'], aborted: false };
    this.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });

    const step = this.script.shift();
    if (step?.kind === 'hang') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, step.ms);
        this.timers.add(t);
        res.on('close', () => {
          clearTimeout(t);
          this.timers.delete(t);
          resolve();
        });
      });
      if (res.destroyed) return;
    } else if (step?.kind === 'error') {
      record.rejected = step.body;
      return this.reply(res, step.status, step.body);
    }

    const attachments = body.attachments;
    if (attachments !== undefined && !Array.isArray(attachments)) {
      record.rejected = 'invalid_attachments';
      return this.reply(res, 400, 'invalid_attachments');
    }
    if (typeof body.text !== 'string' && !(Array.isArray(attachments) && attachments.length)) {
      record.rejected = 'no_text';
      return this.reply(res, 400, 'no_text');
    }
    this.reply(res, 200, 'ok');
  }
}
