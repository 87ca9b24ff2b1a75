import { randomBytes } from 'node:crypto';
import { railsJson } from 'test/fakes/rails-json';

/**
 * Complaint messages in the wire formats feedback loops send (RFC 5965 ARF, Microsoft JMRP
 * style) and the JSON Postal's HTTP endpoint posts for them (`app/senders/http_sender.rb` in
 * postalserver/postal). Every builder returns CRLF text, as on the wire.
 */

const CRLF = '\r\n';

export interface OriginalMessageOptions {
  /** The X-Email-Id header of the original (our message id); omitted when null/undefined. */
  emailId?: string | null;
  /** The original's Message-ID without angle brackets; omitted when null/undefined. */
  messageId?: string | null;
  /** The complaining recipient (To of the original). */
  recipient: string;
  from?: string;
  subject?: string;
  /** Extra raw header lines of the original. */
  headers?: string[];
  body?: string;
  /** Fold the X-Email-Id header over two lines. */
  foldHeaders?: boolean;
  /** The `X-Postal-MsgID` header Postal adds to every outgoing message (its token). */
  postalToken?: string | null;
}

export interface ArfReportOptions extends OriginalMessageOptions {
  feedbackType?: string;
  userAgent?: string;
  /** Original-Mail-From (the envelope sender of the original). */
  mailFrom?: string;
  /** Arrival-Date, RFC 5322 date text. */
  arrivalDate?: string;
  reportedDomain?: string;
  sourceIp?: string;
  /** Report fields to leave out (lower-case names), e.g. `['original-rcpt-to']`. */
  omitFields?: string[];
  /** Extra raw lines of the feedback report. */
  reportFields?: string[];
  /** Fold long feedback-report fields over several lines. */
  foldFields?: boolean;
  /** How the original is attached: whole (`message/rfc822`), headers only, or not at all. */
  original?: 'message' | 'headers' | 'none';
  /** Content-Type of a headers-only original (`text/rfc822-headers` by default). */
  headersType?: string;
  /** Content-Transfer-Encoding of the report and original parts. */
  encoding?: '7bit' | 'base64';
  /** The reporting ISP's address (From of the report). */
  reporter?: string;
  /** Our feedback-loop address (To of the report). */
  fblAddress?: string;
}

export function buildOriginalMessage(opts: OriginalMessageOptions): string {
  const lines = [
    `Received: from mta1.sender.example (mta1.sender.example [192.0.2.25])`,
    `        by mx.isp.example with ESMTPS id 4f9Qx; Wed, 22 Jan 2025 10:11:12 +0000`,
    `From: ${opts.from ?? 'News <news@sender.example>'}`,
    `To: ${opts.recipient}`,
    `Subject: ${opts.subject ?? 'Your weekly digest'}`,
    `Date: Wed, 22 Jan 2025 10:11:10 +0000`,
    ...(opts.messageId != null ? [`Message-ID: <${opts.messageId}>`] : []),
    ...(opts.emailId != null
      ? opts.foldHeaders
        ? ['X-Email-Id:', ` ${opts.emailId}`]
        : [`X-Email-Id: ${opts.emailId}`]
      : []),
    // Postal's add_outgoing_headers (lib/postal/message_db/message.rb) prepends this header.
    ...(opts.postalToken != null ? [`X-Postal-MsgID: ${opts.postalToken}`] : []),
    ...(opts.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello, here is what happened this week.',
    '',
  ];
  return lines.join(CRLF);
}

/** A multipart/report; report-type=feedback-report message (RFC 5965 §2, Appendix B). */
export function buildArfReport(opts: ArfReportOptions): string {
  const boundary = `arf_${randomBytes(6).toString('hex')}`;
  const encoding = opts.encoding ?? '7bit';
  const omit = new Set(opts.omitFields ?? []);
  const fold = (name: string, value: string) =>
    opts.foldFields
      ? `${name}:${CRLF}    ${value.split(' ').join(`${CRLF}    `)}`
      : `${name}: ${value}`;
  const reportFields = [
    ['feedback-type', fold('Feedback-Type', opts.feedbackType ?? 'abuse')],
    ['user-agent', fold('User-Agent', opts.userAgent ?? 'SomeGenerator/1.0 (ISP Feedback Loop)')],
    ['version', 'Version: 1'],
    [
      'original-mail-from',
      fold('Original-Mail-From', `<${opts.mailFrom ?? 'bounces@rp.sender.example'}>`),
    ],
    ['original-rcpt-to', fold('Original-Rcpt-To', `<${opts.recipient}>`)],
    ['arrival-date', fold('Arrival-Date', opts.arrivalDate ?? 'Wed, 22 Jan 2025 10:11:12 +0000')],
    ['reported-domain', fold('Reported-Domain', opts.reportedDomain ?? 'sender.example')],
    ['source-ip', fold('Source-IP', opts.sourceIp ?? '192.0.2.25')],
  ]
    .filter(([name]) => !omit.has(name))
    .map(([, line]) => line);
  const report = [...reportFields, ...(opts.reportFields ?? []), ''].join(CRLF);

  const original = buildOriginalMessage(opts);
  const originalPart =
    opts.original === 'none'
      ? []
      : opts.original === 'headers'
        ? [
            `Content-Type: ${opts.headersType ?? 'text/rfc822-headers'}`,
            ...encodedBody(original.split(`${CRLF}${CRLF}`)[0] + CRLF, encoding),
          ]
        : [
            'Content-Type: message/rfc822',
            'Content-Disposition: inline',
            ...encodedBody(original, encoding),
          ];

  return [
    `From: ${opts.reporter ?? '<staff@isp.example>'}`,
    `To: ${opts.fblAddress ?? '<fbl@sender.example>'}`,
    'Subject: FW: Your weekly digest',
    'Date: Wed, 22 Jan 2025 11:00:00 +0000',
    `Message-ID: <report-${randomBytes(4).toString('hex')}@isp.example>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=feedback-report;${CRLF}    boundary="${boundary}"`,
    '',
    'This is a multi-part message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset="US-ASCII"',
    'Content-Transfer-Encoding: 7bit',
    '',
    'This is an email abuse report for an email message received from IP',
    `${opts.sourceIp ?? '192.0.2.25'} on Wed, 22 Jan 2025 10:11:12 +0000.`,
    'For more information about this format please see http://www.mipassoc.org/arf/.',
    '',
    `--${boundary}`,
    'Content-Type: message/feedback-report',
    ...encodedBody(report, encoding),
    ...(originalPart.length ? [`--${boundary}`, ...originalPart] : []),
    `--${boundary}--`,
    '',
  ].join(CRLF);
}

/**
 * A non-ARF complaint (Microsoft JMRP style): a note plus the original attached as
 * `message/rfc822`, with no feedback-report part.
 */
export function buildJmrpMessage(
  opts: OriginalMessageOptions & { encoding?: '7bit' | 'base64' },
): string {
  const boundary = `jmrp_${randomBytes(6).toString('hex')}`;
  return [
    'From: staff@hotmail.com',
    'To: fbl@sender.example',
    'Subject: complaint about message from 192.0.2.25',
    'Date: Wed, 22 Jan 2025 11:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is a complaint from the Junk Mail Reporting Program.',
    '',
    `--${boundary}`,
    'Content-Type: message/rfc822',
    'Content-Disposition: attachment; filename="complaint.eml"',
    ...encodedBody(buildOriginalMessage(opts), opts.encoding ?? '7bit'),
    `--${boundary}--`,
    '',
  ].join(CRLF);
}

/**
 * Several feedback reports in one message: each whole ARF report attached as `message/rfc822`
 * to a `multipart/mixed` envelope (how some feedback loops batch their reports).
 */
export function buildReportDigest(reports: string[]): string {
  const boundary = `digest_${randomBytes(6).toString('hex')}`;
  return [
    'From: <fbl@isp.example>',
    'To: <fbl@sender.example>',
    `Subject: ${reports.length} feedback reports`,
    'Date: Wed, 22 Jan 2025 12:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `${reports.length} reports are attached.`,
    '',
    ...reports.flatMap((report, i) => [
      `--${boundary}`,
      'Content-Type: message/rfc822',
      `Content-Disposition: attachment; filename="report-${i + 1}.eml"`,
      '',
      report,
    ]),
    `--${boundary}--`,
    '',
  ].join(CRLF);
}

/** Part headers' tail (encoding + blank line) and the body, base64 in 76-character lines if asked. */
function encodedBody(body: string, encoding: '7bit' | 'base64'): string[] {
  if (encoding === '7bit') return ['', body];
  return [
    'Content-Transfer-Encoding: base64',
    '',
    ...wrap(Buffer.from(body).toString('base64'), 76),
  ];
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines;
}

/** Ruby's `Base64.encode64`: 60-character lines, each ending in `\n`. */
function rubyBase64(data: string | Buffer): string {
  const encoded = Buffer.from(data).toString('base64');
  return wrap(encoded, 60)
    .map((line) => `${line}\n`)
    .join('');
}

export interface PostalRawPayload {
  id: number;
  rcpt_to: string;
  mail_from: string;
  message: string;
  base64: true;
  size: number;
}

/** Postal's `RawMessage` endpoint format (BodyAsJSON). */
export function postalRawPayload(
  raw: string,
  overrides: Partial<PostalRawPayload> = {},
): PostalRawPayload {
  return {
    id: 4711,
    rcpt_to: 'fbl@sender.example',
    mail_from: 'staff@isp.example',
    message: rubyBase64(raw),
    base64: true,
    size: Buffer.byteLength(raw),
    ...overrides,
  };
}

export interface PostalHashAttachment {
  filename: string;
  content_type: string;
  size: number;
  data: string;
}

/**
 * Postal's `Hash` endpoint format with attachments included, as its mail gem sees an ARF
 * report: the `message/rfc822` part is an attachment (named `<random>.eml` when unnamed), the
 * `message/feedback-report` part only when the ISP named it (`namedReport`), and `plain_body`
 * is the first text/plain part.
 */
export function postalHashPayload(
  opts: ArfReportOptions & { namedReport?: boolean },
): Record<string, unknown> {
  const raw = buildArfReport({ ...opts, encoding: '7bit' });
  const boundary = /boundary="([^"]+)"/.exec(raw)![1];
  const parts = raw.split(`--${boundary}`).slice(1, -1);
  const body = (part: string) => part.slice(part.indexOf(`${CRLF}${CRLF}`) + 4);
  const attachment = (filename: string, contentType: string, content: string) => ({
    filename,
    content_type: contentType,
    size: Buffer.byteLength(content),
    data: rubyBase64(content),
  });
  const attachments: PostalHashAttachment[] = [];
  if (opts.namedReport) {
    attachments.push(attachment('report.txt', 'message/feedback-report', body(parts[1])));
  }
  if (parts[2] !== undefined && opts.original !== 'headers') {
    attachments.push(attachment('34861052.eml', 'message/rfc822', body(parts[2])));
  }
  return {
    id: 4712,
    rcpt_to: 'fbl@sender.example',
    mail_from: 'staff@isp.example',
    token: 'aB3dE5fG7hJ9kL1m',
    subject: 'FW: Your weekly digest',
    message_id: 'report-1@isp.example',
    timestamp: 1737543600.12,
    size: Buffer.byteLength(raw),
    spam_status: 'NotChecked',
    bounce: false,
    received_with_ssl: true,
    to: 'fbl@sender.example',
    cc: null,
    from: 'staff@isp.example',
    date: 'Wed, 22 Jan 2025 11:00:00 +0000',
    in_reply_to: null,
    references: null,
    html_body: null,
    attachment_quantity: attachments.length,
    auto_submitted: null,
    reply_to: null,
    plain_body: body(parts[0]),
    attachments,
  };
}

/**
 * Ruby's `URI.encode_www_form` as Net::HTTP's `set_form_data` uses it for Postal's `FormData`
 * encoding (`lib/postal/http.rb`): `key=value` joined by `&`, each side through
 * `encode_www_form_component` (`*-._` and alphanumerics kept, space as `+`, everything else
 * `%XX` of its UTF-8 bytes); a nil value gives the bare key, an Array one pair per element,
 * anything else its `to_s` (`true`, `4711`, `1737543600.12`).
 */
export function rubyEncodeWwwForm(params: Record<string, unknown>): string {
  const component = (value: string) =>
    [...Buffer.from(value, 'utf8')]
      .map((b) => {
        const c = String.fromCharCode(b);
        if (/[A-Za-z0-9*\-._]/.test(c)) return c;
        if (c === ' ') return '+';
        return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
      })
      .join('');
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) pairs.push(component(key));
    else if (Array.isArray(value))
      for (const v of value) pairs.push(`${component(key)}=${component(String(v))}`);
    else pairs.push(`${component(key)}=${component(String(value))}`);
  }
  return pairs.join('&');
}

/**
 * What Postal's HTTP endpoint posts, byte for byte, for each of its four settings
 * (`app/senders/http_sender.rb`, `app/models/http_endpoint.rb`: encodings `BodyAsJSON` and
 * `FormData`, formats `Hash` and `RawMessage`). `BodyAsJSON` posts `parameters(flat: false)`
 * as JSON with `Content-Type: application/json`; `FormData` posts `parameters(flat: true)`
 * through `set_form_data` (`application/x-www-form-urlencoded`), where the hash format's
 * attachments become flat `attachments[i][filename|content_type|size|data]` keys (size as a
 * string, `content_type` the full header value rather than the bare MIME type). The request
 * is signed over exactly these bytes (`lib/postal/http.rb`, `sign: true`).
 */
export function postalEndpointRequest(
  encoding: 'BodyAsJSON' | 'FormData',
  format: 'RawMessage' | 'Hash',
  opts: ArfReportOptions & { namedReport?: boolean },
  /** The raw message for the RawMessage format; the ARF report of `opts` by default. */
  raw: string = buildArfReport(opts),
): { contentType: string; body: string } {
  let params: Record<string, unknown>;
  if (format === 'RawMessage') {
    params = { ...postalRawPayload(raw) };
  } else {
    params = postalHashPayload(opts);
    if (encoding === 'FormData') {
      const attachments = params.attachments as PostalHashAttachment[];
      delete params.attachments;
      attachments.forEach((a, i) => {
        params[`attachments[${i}][filename]`] = a.filename;
        params[`attachments[${i}][content_type]`] = a.content_type;
        params[`attachments[${i}][size]`] = String(a.size);
        params[`attachments[${i}][data]`] = a.data;
      });
    }
  }
  return encoding === 'BodyAsJSON'
    ? // Rails' to_json (ActiveSupport escapes <, >, &, U+2028 and U+2029).
      { contentType: 'application/json', body: railsJson(params) }
    : { contentType: 'application/x-www-form-urlencoded', body: rubyEncodeWwwForm(params) };
}
