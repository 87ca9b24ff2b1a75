/**
 * Webhook payloads and stored messages exactly as Postal's code builds them (postalserver/postal,
 * main branch). Each builder names the Postal file it follows; tests that use one cite it too.
 */

/** `Postal::MessageDB::Message#webhook_hash` (lib/postal/message_db/message.rb). */
export interface PostalMessageHash {
  id: number;
  token: string;
  direction: 'outgoing' | 'incoming';
  message_id: string;
  to: string;
  from: string;
  subject: string;
  timestamp: number;
  spam_status: string;
  tag: string | null;
}

/** `Server#webhook_hash` (app/models/server.rb). */
export const postalServerHash = {
  uuid: '4a5d2b7c-7f6e-4a8b-9c1d-2e3f4a5b6c7d',
  name: 'Main',
  permalink: 'main',
  organization: 'acme',
};

/**
 * `DomainDNSError` (app/models/concerns/has_dns_checks.rb, `check_dns(:auto)`): `domain` is the
 * domain's **name**, and every check's status and error sit at the top level of the payload.
 * Errors are nil (JSON null) for the checks that passed.
 */
export function postalDomainDnsError(
  domain: string,
  checks: Partial<
    Record<
      'spf' | 'dkim' | 'mx' | 'return_path',
      { status: 'OK' | 'Missing' | 'Invalid'; error?: string | null }
    >
  >,
): Record<string, unknown> {
  const field = (k: 'spf' | 'dkim' | 'mx' | 'return_path') => ({
    [`${k}_status`]: checks[k]?.status ?? 'OK',
    [`${k}_error`]: checks[k]?.error ?? null,
  });
  return {
    server: postalServerHash,
    domain,
    uuid: '0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e',
    dns_checked_at: Date.now() / 1000,
    ...field('spf'),
    ...field('dkim'),
    ...field('mx'),
    ...field('return_path'),
  };
}

/**
 * A delivery webhook (`MessageDeliveryFailed` for a HardFail) that Postal itself creates,
 * with no SMTP exchange: `Delivery#webhook_hash` (lib/postal/message_db/delivery.rb) of a
 * `create_delivery "HardFail", details: …` — so `output` is `""` (`nil.to_s`),
 * `sent_with_ssl` and `time` are null, and `details` is cut to 250 characters.
 */
export function postalOwnHardFail(
  message: PostalMessageHash,
  details: string,
): Record<string, unknown> {
  return {
    message,
    status: 'HardFail',
    details: details.slice(0, 250),
    output: '',
    sent_with_ssl: null,
    timestamp: Date.now() / 1000,
    time: null,
  };
}

/**
 * After `default_maximum_delivery_attempts` (18) Postal hard-fails an outgoing message and adds
 * its recipient to the server's suppression list for
 * `default_suppression_list_automatic_removal_days` (30) — app/lib/message_dequeuer/
 * single_message_processor.rb `check_delivery_attempts`, lib/postal/message_db/suppression_list.rb.
 */
export function postalMaxAttemptsFailure(
  message: PostalMessageHash,
  attempts = 18,
): Record<string, unknown> {
  return postalOwnHardFail(
    message,
    `Maximum number of delivery attempts (${attempts}) has been reached. Added ${message.to} to suppression list because delivery has failed ${attempts} times.`,
  );
}

/**
 * Outbound spam check over the server's threshold: app/lib/message_dequeuer/
 * outgoing_message_processor.rb `fail_if_spam` (threshold is a decimal(8,2): "5.0").
 */
export function postalSpamFailure(
  message: PostalMessageHash,
  threshold = '5.0',
  score = 7.3,
): Record<string, unknown> {
  return postalOwnHardFail(
    message,
    `Message is likely spam. Threshold is ${threshold} and the message scored ${score}.`,
  );
}

/**
 * Ruby's `Base64.encode64`: standard alphabet, a `\n` after every 60 characters and at the end.
 * Postal's message API encodes `raw_message` with it (app/controllers/legacy_api/
 * messages_controller.rb).
 */
export function rubyEncode64(data: Buffer | string): string {
  const b64 = Buffer.from(data).toString('base64');
  if (b64 === '') return '';
  return `${b64.match(/.{1,60}/g)!.join('\n')}\n`;
}

/**
 * A bounce as Postal stores it and serves it as `raw_message`: the SMTP server prepends its
 * `Received:` header to the DATA it got (app/lib/smtp_server/client.rb `data`,
 * app/lib/received_header.rb), `insert_raw_message` splits headers from body at the first
 * blank line and `Message#raw_message` joins them again with `\r\n\r\n`
 * (lib/postal/message_db/database.rb, message.rb).
 */
export function postalStoredRaw(dataAsReceived: string): string {
  const received =
    'Received: from mx.rcpt.example (mx.rcpt.example [192.0.2.25]) by postal.example.com with SMTP; ' +
    'Sun, 28 Apr 2024 10:00:01 +0000\r\n';
  const data = received + dataAsReceived.replace(/\r?\n/g, '\r\n');
  // Ruby's `split(/\r?\n\r?\n/, 2)` keeps the remainder whole.
  const cut = /\r?\n\r?\n/.exec(data);
  const headers = cut ? data.slice(0, cut.index) : data;
  const body = cut ? data.slice(cut.index + cut[0].length) : '';
  return `${headers}\r\n\r\n${body}`;
}

export interface PostfixBounceOptions {
  /** The original recipient. */
  recipient: string;
  /** The Postal token of the bounced message (`X-Postal-MsgID`, used by Postal to link it). */
  token: string;
  /** `Status:` of the per-recipient DSN fields. */
  status: string;
  /** `Diagnostic-Code:` (with its type, e.g. `X-Postfix; …` or `smtp; 550 …`). */
  diagnosticCode?: string;
  remoteMta?: string;
  action?: string;
  /** The human-readable first part (Postfix's `bounce` template ends with one line per recipient). */
  humanLine: string;
}

/**
 * A Postfix non-delivery report (RFC 3464 `multipart/report; report-type=delivery-status`) as
 * Postfix's bounce(8) writes it, returning the original message's headers.
 */
export function postfixBounce(o: PostfixBounceOptions): string {
  const boundary = '3F1B24C0A7.1714300000/mx.rcpt.example';
  const lines = [
    'Return-Path: <>',
    'Date: Sun, 28 Apr 2024 10:00:00 +0000 (UTC)',
    'From: MAILER-DAEMON@mx.rcpt.example (Mail Delivery System)',
    'Subject: Undelivered Mail Returned to Sender',
    `To: ${o.token}@psrp.postal.example`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    `\tboundary="${boundary}"`,
    'Content-Transfer-Encoding: 8bit',
    'Message-Id: <20240428100000.3F1B24C0A7@mx.rcpt.example>',
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.rcpt.example.',
    '',
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    '',
    'For further assistance, please send mail to postmaster.',
    '',
    'If you do so, please include this problem report. You can',
    'delete your own text from the attached returned message.',
    '',
    '                   The mail system',
    '',
    o.humanLine,
    '',
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.rcpt.example',
    'X-Postfix-Queue-ID: 3F1B24C0A7',
    `X-Postfix-Sender: rfc822; ${o.token}@psrp.postal.example`,
    'Arrival-Date: Sun, 28 Apr 2024 09:59:59 +0000 (UTC)',
    '',
    `Final-Recipient: rfc822; ${o.recipient}`,
    `Original-Recipient: rfc822;${o.recipient}`,
    `Action: ${o.action ?? 'failed'}`,
    `Status: ${o.status}`,
    ...(o.remoteMta ? [`Remote-MTA: ${o.remoteMta}`] : []),
    ...(o.diagnosticCode ? [`Diagnostic-Code: ${o.diagnosticCode}`] : []),
    '',
    `--${boundary}`,
    'Content-Description: Undelivered Message Headers',
    'Content-Type: text/rfc822-headers',
    '',
    `X-Postal-MsgID: ${o.token}`,
    'From: Shop <news@shop.example>',
    `To: ${o.recipient}`,
    'Subject: Hello',
    '',
    `--${boundary}--`,
    '',
  ];
  return lines.join('\r\n');
}
