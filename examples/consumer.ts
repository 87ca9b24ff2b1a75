/**
 * What an application does with Email Sender, end to end, through the typed client in
 * clients/node (README "API overview"). It is documentation that cannot go stale: the contract
 * test (test/contract/) type-checks it against types generated from the OpenAPI document and
 * runs it against the server, validating every answer against the document.
 *
 *   EMAIL_SENDER_URL=http://localhost:3000 EMAIL_SENDER_KEY=esk_… \
 *     node -r ./scripts/register-paths.js examples/consumer.ts
 *
 * It needs a key with scope `full` (templates, messages, suppression list, stats, reports and
 * rate control are management routes).
 */
import { randomUUID } from 'node:crypto';
import {
  createEmailSenderClient,
  type EmailSenderClient,
  type Schemas,
} from '../clients/node/src/client';

type ApiError = Schemas['ErrorResponseDto'];

/** Throws with the API's own error code and message. */
function fail(what: string, error: ApiError | undefined, status: number): never {
  const detail = error ? `${error.error.code}: ${error.error.message}` : `HTTP ${status}`;
  throw new Error(`${what} failed (${detail})`);
}

export interface ExampleResult {
  templateMessageId: string;
  inlineMessageId: string;
  batchId: string;
  rejected: Schemas['BatchRejectDto'][];
  finalStatus: string;
  pagesSeen: number;
  replayed: boolean;
}

export async function runConsumerExample(
  client: EmailSenderClient,
  log: (line: string) => void = () => undefined,
): Promise<ExampleResult> {
  const run = randomUUID().slice(0, 8);
  const campaign = `example-${run}`;

  // 1. A template, referenced by its external_id when sending.
  const template = await client.POST('/api/v1/templates', {
    body: {
      external_id: `welcome-${run}`,
      name: 'Welcome',
      subject: 'Welcome, {{first_name}}!',
      html_content: '<p>Hello {{first_name}}, thanks for joining {{shop}}.</p>',
      variables: ['first_name', 'shop'],
    },
  });
  if (!template.data) fail('create template', template.error, template.response.status);
  log(`template ${template.data.external_id} created`);

  // 2. Send with it; the client adds an Idempotency-Key, so its retries never send twice.
  const withTemplate = await client.POST('/api/v1/send', {
    body: {
      to: { email: `ann+${run}@example.com`, name: 'Ann Example' },
      from: 'Shop <news@shop.example>',
      template_id: template.data.external_id,
      variables: { first_name: 'Ann', shop: 'Acme' },
      campaign_id: campaign,
    },
  });
  if (!withTemplate.data) fail('send', withTemplate.error, withTemplate.response.status);
  log(`sent ${withTemplate.data.message_id} (${withTemplate.data.status})`);

  // 3. Send inline content.
  const inline = await client.POST('/api/v1/send', {
    body: {
      to: `bob+${run}@example.com`,
      from: 'Shop <news@shop.example>',
      subject: 'Your order {{order}}',
      text: 'Order {{order}} has shipped.',
      variables: { order: 'A-1001' },
      campaign_id: campaign,
      tag: 'shipping',
    },
  });
  if (!inline.data) fail('send inline', inline.error, inline.response.status);

  // 4. A batch: an invalid address, a duplicate and a suppressed address are rejected one
  //    by one; the rest are accepted.
  const suppressed = `gone+${run}@example.com`;
  const added = await client.POST('/api/v1/blacklist', {
    body: { email: suppressed, reason: 'manual', details: 'asked by phone' },
  });
  if (!added.data) fail('suppress', added.error, added.response.status);
  const batch = await client.POST('/api/v1/batch', {
    body: {
      from: 'Shop <news@shop.example>',
      template_id: template.data.external_id,
      variables: { shop: 'Acme' },
      campaign_id: campaign,
      recipients: [
        { to: `carol+${run}@example.com`, variables: { first_name: 'Carol' } },
        { to: 'not-an-address' },
        { to: { email: `dave+${run}@example.com`, name: 'Dave' } },
        { to: `CAROL+${run}@example.com` },
        { to: suppressed },
      ],
    },
  });
  if (!batch.data) fail('batch', batch.error, batch.response.status);
  for (const r of batch.data.rejected) log(`recipient ${r.index} (${r.to ?? '—'}): ${r.message}`);

  const progress = await client.GET('/api/v1/batches/{batch_id}', {
    params: { path: { batch_id: batch.data.batch_id } },
  });
  if (!progress.data) fail('batch progress', progress.error, progress.response.status);
  log(`batch: ${progress.data.accepted} of ${progress.data.total} accepted`);

  // 5. Poll a message's status (a few times: delivery happens in the background).
  let status = 'queued';
  for (let i = 0; i < 3; i++) {
    const res = await client.GET('/api/v1/status/{message_id}', {
      params: { path: { message_id: withTemplate.data.message_id } },
    });
    if (!res.data) fail('status', res.error, res.response.status);
    status = res.data.status;
    log(`status ${status}, ${res.data.events.length} event(s)`);
    if (status !== 'queued') break;
  }

  // An unknown message is a 404 in the documented error shape.
  const missing = await client.GET('/api/v1/status/{message_id}', {
    params: { path: { message_id: randomUUID() } },
  });
  if (missing.error) log(`unknown message: ${missing.error.error.code}`);

  // 6. Page through the campaign's messages, two at a time, following next_cursor.
  let cursor: string | undefined;
  let pagesSeen = 0;
  do {
    const page = await client.GET('/api/v1/messages', {
      params: { query: { campaign_id: campaign, limit: 2, cursor } },
    });
    if (!page.data) fail('list messages', page.error, page.response.status);
    pagesSeen++;
    cursor = page.data.next_cursor ?? undefined;
  } while (cursor && pagesSeen < 10);
  log(`${pagesSeen} page(s) of messages`);

  // 7. An idempotent retry: the same key and body answer the first message again.
  const key = `order-${run}`;
  const body = {
    to: `erin+${run}@example.com`,
    from: 'Shop <news@shop.example>',
    subject: 'Receipt',
    text: 'Thanks!',
  };
  const first = await client.POST('/api/v1/send', {
    params: { header: { 'Idempotency-Key': key } },
    body,
  });
  const again = await client.POST('/api/v1/send', {
    params: { header: { 'Idempotency-Key': key } },
    body,
  });
  if (!first.data || !again.data) fail('idempotent send', again.error, again.response.status);
  const replayed =
    again.response.headers.get('Idempotent-Replayed') === 'true' &&
    again.data.message_id === first.data.message_id;
  log(`retry replayed: ${replayed}`);

  // A different body under the same key is a 409.
  const conflict = await client.POST('/api/v1/send', {
    params: { header: { 'Idempotency-Key': key } },
    body: { ...body, text: 'Something else' },
  });
  if (conflict.error) log(`same key, other body: ${conflict.error.error.code}`);

  // 8. The suppression list: check, list, remove.
  const check = await client.GET('/api/v1/blacklist/check', {
    params: { query: { email: suppressed } },
  });
  if (!check.data) fail('check', check.error, check.response.status);
  log(`${check.data.email} suppressed: ${check.data.blocked} (${check.data.reason ?? '-'})`);
  const list = await client.GET('/api/v1/blacklist', { params: { query: { limit: 10 } } });
  if (!list.data) fail('list suppressions', list.error, list.response.status);
  const removed = await client.DELETE('/api/v1/blacklist/{email}', {
    params: { path: { email: suppressed } },
  });
  if (!removed.data) fail('remove', removed.error, removed.response.status);

  // 9. Statistics and diagnostic reports.
  const stats = await client.GET('/api/v1/stats', {
    params: { query: { campaign_id: campaign, granularity: 'day' } },
  });
  if (!stats.data) fail('stats', stats.error, stats.response.status);
  log(`sent ${stats.data.totals.sent}, delivery rate ${stats.data.rates.delivery_rate} %`);
  const reports = await client.GET('/api/v1/reports', { params: { query: { limit: 5 } } });
  if (!reports.data) fail('reports', reports.error, reports.response.status);
  log(`${reports.data.data.length} report(s)`);

  // 10. Rate control: pause one domain, see it, resume it, reset its rate.
  const paused = await client.POST('/api/v1/rate-control/pause', {
    body: { domain: 'example.com' },
  });
  if (!paused.data) fail('pause', paused.error, paused.response.status);
  const rates = await client.GET('/api/v1/rate-control');
  if (!rates.data) fail('rate control', rates.error, rates.response.status);
  log(`domains below their rate or paused: ${rates.data.domains.map((d) => d.domain).join(', ')}`);
  const resumed = await client.POST('/api/v1/rate-control/resume', {
    body: { domain: 'example.com' },
  });
  if (!resumed.data) fail('resume', resumed.error, resumed.response.status);
  const reset = await client.POST('/api/v1/rate-control/{domain}/reset', {
    params: { path: { domain: 'example.com' } },
  });
  if (!reset.data) fail('reset', reset.error, reset.response.status);

  return {
    templateMessageId: withTemplate.data.message_id,
    inlineMessageId: inline.data.message_id,
    batchId: batch.data.batch_id,
    rejected: batch.data.rejected,
    finalStatus: status,
    pagesSeen,
    replayed,
  };
}

if (require.main === module) {
  const baseUrl = process.env.EMAIL_SENDER_URL ?? 'http://localhost:3000';
  const apiKey = process.env.EMAIL_SENDER_KEY ?? '';
  if (!apiKey) {
    process.stderr.write('Set EMAIL_SENDER_KEY to an API key with scope full\n');
    process.exit(1);
  }
  runConsumerExample(createEmailSenderClient({ baseUrl, apiKey }), (line) =>
    process.stdout.write(`${line}\n`),
  ).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
