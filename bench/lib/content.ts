import { randomUUID } from 'node:crypto';
import type { MessageDetails } from 'src/modules/emails/message-details';

/** Recipient domains: spread like a real list, none of them rate-limited (DOMAIN_RATE_DEFAULT). */
export const DOMAINS = 20;
export const SENDER = 'Bench <bench@sender.example>';

/** Templated inline content shared by every benchmark message (tracking on by default). */
export const CONTENT = {
  from: SENDER,
  subject: 'Hello {{first_name}}, your {{plan}} summary',
  html:
    '<!doctype html><html><body style="font-family:sans-serif">' +
    '<h1>Hi {{first_name}},</h1>' +
    '<p>Here is what changed on your <b>{{plan}}</b> plan this week. Three new reports are ' +
    'ready, and your usage stayed within the limits of your plan.</p>' +
    '<p><a href="https://shop.example/account?plan={{plan}}">Open your account</a> or ' +
    '<a href="https://shop.example/reports">read the reports</a>.</p>' +
    '<p style="color:#666">You get this message because you have an account at Shop.</p>' +
    '</body></html>',
  text:
    'Hi {{first_name}},\n\nHere is what changed on your {{plan}} plan this week. Three new ' +
    'reports are ready.\n\nOpen your account: https://shop.example/account\n',
  campaign_id: 'bench',
  tag: 'bench',
};

const PLANS = ['free', 'team', 'business'];

export interface BenchRecipient {
  to: string;
  variables: { first_name: string; plan: string };
}

/** `n` distinct recipients for one run; `run` keeps runs apart. */
export function recipients(run: string, n: number): BenchRecipient[] {
  return Array.from({ length: n }, (_, i) => ({
    to: `user${i}-${run}@d${i % DOMAINS}.bench.example`,
    variables: { first_name: `User${i}`, plan: PLANS[i % PLANS.length] },
  }));
}

/** POST /api/v1/batch body. */
export function batchBody(list: BenchRecipient[]): string {
  return JSON.stringify({ ...CONTENT, recipients: list });
}

/** POST /api/v1/send body for one random recipient. */
export function sendBody(): string {
  const r = randomUUID().slice(0, 13);
  return JSON.stringify({
    ...CONTENT,
    to: `one-${r}@d${r.charCodeAt(0) % DOMAINS}.bench.example`,
    variables: { first_name: 'Ann', plan: 'team' },
  });
}

export const domainOf = (address: string): string =>
  address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** What the accept path stores for a message of CONTENT (EmailsService.newMessage). */
export function detailsOf(variables: Record<string, unknown>): MessageDetails {
  return {
    template_id: null,
    variables,
    options: { track_opens: true, track_clicks: true, unsubscribe: true },
  };
}

/** The columns `insertMessages` writes, as parallel arrays for one unnest statement. */
export interface RawRows {
  ids: string[];
  params: unknown[];
}

export function rawRows(
  list: BenchRecipient[],
  ctx: { apiKeyId: number; templateId: number; sender: string; batchId: string | null },
): RawRows {
  const n = list.length;
  const ids = list.map(() => randomUUID());
  const fill = <T>(v: T): T[] => new Array<T>(n).fill(v);
  return {
    ids,
    params: [
      ids,
      fill(ctx.apiKeyId),
      fill(ctx.templateId),
      fill(ctx.batchId),
      fill(CONTENT.campaign_id),
      fill(CONTENT.tag),
      list.map((r) => r.to),
      fill(ctx.sender),
      fill(null),
      fill(null),
      list.map((r) => JSON.stringify(detailsOf(r.variables))),
    ],
  };
}

/** The same statement as EmailLogRepository.insertMessages, for all rows at once. */
export const RAW_INSERT_SQL = `WITH inserted AS (
  INSERT INTO email_logs (external_message_id, api_key_id, template_id, batch_id, campaign_id, tag,
                          recipient, sender, subject, send_at, status, status_details)
  SELECT u.id, u.api_key_id, u.template_id, u.batch_id, u.campaign_id, u.tag,
         u.recipient, u.sender, u.subject, u.send_at, 'queued', u.details
    FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::varchar[], $6::varchar[],
                $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[], $11::jsonb[])
      AS u(id, api_key_id, template_id, batch_id, campaign_id, tag, recipient, sender, subject, send_at, details)
  RETURNING id, send_at)
INSERT INTO email_events (email_log_id, event_type, details)
SELECT id, 'queued', CASE WHEN send_at IS NULL THEN '{}'::jsonb
                          ELSE jsonb_build_object('send_at', send_at) END
  FROM inserted`;

/** The delivery job of one message, as EmailDeliveryProducer builds it. */
export function deliveryJob(messageId: string, recipient: string) {
  return {
    name: 'EmailDeliver',
    data: { messageId, domain: domainOf(recipient) },
    opts: { jobId: messageId, delay: 0 },
  };
}
