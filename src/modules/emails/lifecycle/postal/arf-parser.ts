/**
 * Pure parser for complaint reports that Postal routes from the feedback-loop/abuse address to
 * `POST /api/v1/inbound/postal` (README: Postal set-up, feedback loops). No DI, no I/O.
 *
 * Accepted shapes, strongest evidence first:
 * 1. ARF (RFC 5965): `multipart/report; report-type=feedback-report` with a
 *    `message/feedback-report` part and the original as `message/rfc822` (whole message) or
 *    `text/rfc822-headers` (headers only; the singular `text/rfc822-header` some reporters
 *    write is read too). A message may carry several reports: several report parts (each
 *    paired with the original that follows it) or whole reports attached as `message/rfc822`.
 *    RFC 6591 `auth-failure` reports also give their authentication fields.
 * 2. A non-ARF message that carries the original (Microsoft JMRP style: the original attached as
 *    `message/rfc822` with no report part): a complaint of type `abuse`.
 * 3. The original forwarded inline: an `X-Email-Id:` header line anywhere in the decoded text.
 *
 * The original is matched through the `X-Email-Id` header the service puts on every message,
 * its `Message-ID`, or the `X-Postal-MsgID` header (Postal's message token) Postal adds.
 * Line endings may be CRLF, LF or CR alone.
 *
 * Postal's HTTP endpoint (`app/senders/http_sender.rb`) posts either the raw message
 * (`RawMessage`: `{id, rcpt_to, mail_from, message: base64, base64: true, size}`) or parsed
 * fields (`Hash`: `plain_body`, `html_body`, `attachments: [{filename, content_type, size, data}]`,
 * ...). The hash loses MIME parts that Postal's mail gem does not count as attachments (an
 * unnamed `message/feedback-report` part), so the raw format is the one to configure.
 */
import { isIP } from 'node:net';
import { convert as htmlToText } from 'html-to-text';
import { simpleParser } from 'mailparser';
import { toStorableString } from 'src/common/text/storable-text';

export interface ArfComplaint {
  /** Lower-cased RFC 5965 Feedback-Type (`abuse`, `fraud`, `not-spam`, ...); `abuse` for non-ARF complaints. */
  feedbackType: string;
  /** The reporting MTA/ISP (the report's User-Agent field). */
  userAgent: string | null;
  /** Original-Rcpt-To, Removal-Recipient, or the recipient named by the original message. */
  originalRecipient: string | null;
  originalMailFrom: string | null;
  arrivalDate: Date | null;
  reportedDomain: string | null;
  sourceIp: string | null;
  /** The original message's `X-Email-Id` (our message id), only when it is a UUID. */
  emailId: string | null;
  /** The original message's `Message-ID`, without angle brackets (Postal stores it that way). */
  postalMessageId: string | null;
  /** The original's `X-Postal-MsgID` (Postal's message token); absent when it has none. */
  postalToken?: string;
  /** RFC 6591 fields, present only for `Feedback-Type: auth-failure`. */
  authFailure?: AuthFailureFields;
}

/** What an RFC 6591 authentication-failure report says failed (each null when not given). */
export interface AuthFailureFields {
  /** `Auth-Failure`: adsp, bodyhash, revoked, signature, spf, dmarc, ... */
  authFailure: string | null;
  authenticationResults: string | null;
  dkimDomain: string | null;
  dkimIdentity: string | null;
  dkimSelector: string | null;
  spfDns: string | null;
  deliveryResult: string | null;
  identityAlignment: string | null;
}

/** The input is not a complaint report we can read. Map it to a 4xx, never a 500. */
export class ArfParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArfParseError';
  }
}

/** Largest message (decoded bytes) we read; FBL reports are a few kB to a few hundred kB. */
export const ARF_MAX_BYTES = 10 * 1024 * 1024;

/** A report forwarded as an attachment is unwrapped at most this deep. */
const MAX_NESTING = 3;
/** Caps on parser work for hostile input; real reports have 3 to 10 parts. */
const MAX_MIME_PARTS = 200;
/** Reports read from one message at most (a digest of several). */
const MAX_REPORTS = 100;
const MAX_HEAD_BYTES = 256 * 1024;
const MAX_FIELD_LENGTH = 998; // RFC 5322 line limit
/** Longest (unfolded) field value kept; also bounds the work of the value regexes. */
const MAX_VALUE_LENGTH = 4 * MAX_FIELD_LENGTH;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * An `X-Email-Id:` line in free text; quoted (`> `) and folded forms included. The id must be
 * a whole token: the start of a longer one (`…b87c`, `…-1`) is not an id of ours.
 */
const EMAIL_ID_LINE =
  /^[ \t>]*X-Email-Id:[ \t]*(?:\r?\n[ \t>]*[ \t]+)?<?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-z_-])>?/im;
const FIELD_LINE = /^([!-9;-~]+)[ \t]*:[ \t]*(.*)$/;
const QUOTE_PREFIX = /^[ \t]*(?:>[ \t]?)+/;
const FEEDBACK_TYPE = /^[a-z0-9][a-z0-9._-]{0,63}/;
const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

type HeaderFields = Map<string, string[]>;

/** The MIME-independent pieces a report is judged from. */
interface ReportParts {
  /** Contents of the `message/feedback-report` parts, in order. */
  reports: string[];
  /** Whole original messages or header blocks (`message/rfc822`, `text/rfc822-headers`). */
  originals: string[];
  /** Decoded human-readable text, searched for an inline original. */
  texts: string[];
}

/** Parses a raw RFC 822 message received at the feedback-loop address (its first report). */
export async function parseArf(raw: Buffer | string): Promise<ArfComplaint> {
  return (await parseArfReports(raw))[0];
}

/** Every report in a raw message, in order (at least one; otherwise ArfParseError). */
export function parseArfReports(raw: Buffer | string): Promise<ArfComplaint[]> {
  return parseMessage(raw, 0);
}

/** Parses the payload Postal's HTTP endpoint posts (raw or hash format): its first report. */
export async function parseInboundPostalPayload(body: unknown): Promise<ArfComplaint> {
  return (await parseInboundPostalReports(body))[0];
}

/**
 * Every report in the payload Postal's HTTP endpoint posts: the JSON object (BodyAsJSON) or
 * the decoded form fields (FormData), in the RawMessage or the Hash format.
 */
export async function parseInboundPostalReports(body: unknown): Promise<ArfComplaint[]> {
  if (!isRecord(body)) throw new ArfParseError('payload is not a JSON object');

  const message = body['message'];
  if (typeof message === 'string') {
    const isBase64 = body['base64'] === true || body['base64'] === 'true';
    return parseArfReports(isBase64 ? decodeBase64(message, 'message') : message);
  }
  if (message !== undefined) throw new ArfParseError('payload message is not a string');

  return analyse(partsFromPostalHash(body), 0);
}

/** The raw message itself from a Postal RawMessage payload (null for the hash format). */
export function rawMessageOf(body: unknown): Buffer | null {
  if (!isRecord(body) || typeof body['message'] !== 'string') return null;
  const message = body['message'];
  const isBase64 = body['base64'] === true || body['base64'] === 'true';
  try {
    return isBase64 ? decodeBase64(message, 'message') : Buffer.from(message, 'utf8');
  } catch {
    return null;
  }
}

/** CR alone or LF alone → CRLF, byte for byte (mailparser splits lines at LF only). */
function toCrlf(raw: Buffer | string): Buffer | string {
  if (typeof raw === 'string')
    return /\r(?!\n)|(?<!\r)\n/.test(raw) ? raw.replace(/\r\n?|\n/g, '\r\n') : raw;
  const text = raw.toString('latin1');
  return /\r(?!\n)|(?<!\r)\n/.test(text)
    ? Buffer.from(text.replace(/\r\n?|\n/g, '\r\n'), 'latin1')
    : raw;
}

async function parseMessage(raw: Buffer | string, depth: number): Promise<ArfComplaint[]> {
  if (typeof raw !== 'string' && !Buffer.isBuffer(raw)) {
    throw new ArfParseError('message is not a string or a Buffer');
  }
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > ARF_MAX_BYTES)
    throw new ArfParseError(`message is larger than ${ARF_MAX_BYTES} bytes`);
  if (size === 0 || (typeof raw === 'string' ? raw : raw.toString('latin1')).trim() === '') {
    throw new ArfParseError('message is empty');
  }
  return analyse(await partsFromMime(toCrlf(raw)), depth);
}

async function partsFromMime(raw: Buffer | string): Promise<ReportParts> {
  let mail;
  try {
    mail = await simpleParser(raw, {
      // Keep every message/rfc822 part an attachment: parsed inline, mailparser keeps only
      // From/To/Subject/Date of it and drops the X-Email-Id and Message-ID we need.
      ignoreEmbedded: true,
      skipImageLinks: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      checksumAlgo: false,
      maxChildNodes: MAX_MIME_PARTS,
      maxHeadSize: MAX_HEAD_BYTES,
    });
  } catch (err) {
    throw new ArfParseError(`unreadable MIME message: ${errorMessage(err)}`);
  }

  const parts: ReportParts = { reports: [], originals: [], texts: [] };
  if (mail.text) parts.texts.push(mail.text);
  for (const attachment of mail.attachments) {
    // A part whose Content-Type header is cut off has none (mailparser's typing says string).
    const type =
      typeof attachment.contentType === 'string' ? attachment.contentType.toLowerCase() : '';
    const content = attachment.content.toString('utf8');
    if (type === 'message/feedback-report') {
      parts.reports.push(content);
    } else if (isOriginalType(type, attachment.filename)) {
      parts.originals.push(content);
    } else if (type.startsWith('text/')) {
      parts.texts.push(type === 'text/html' ? htmlText(content) : content);
    }
  }
  return parts;
}

/**
 * Postal's hash format: its mail gem counts as attachments every `message/rfc822` part (named
 * `<random>.eml` when unnamed) and any part with a file name; `plain_body` is the first
 * text/plain part (`config/initializers/mail_extensions.rb`).
 */
function partsFromPostalHash(body: Record<string, unknown>): ReportParts {
  const parts: ReportParts = { reports: [], originals: [], texts: [] };
  let total = 0;
  const take = (text: string): string => {
    total += Buffer.byteLength(text);
    if (total > ARF_MAX_BYTES)
      throw new ArfParseError(`payload is larger than ${ARF_MAX_BYTES} bytes`);
    return text;
  };

  const plain = body['plain_body'];
  if (typeof plain === 'string') parts.texts.push(take(plain));
  const html = body['html_body'];
  if (typeof html === 'string') parts.texts.push(htmlText(take(html)));

  for (const [index, attachment] of postalAttachments(body).entries()) {
    const type = typeof attachment['content_type'] === 'string' ? attachment['content_type'] : '';
    const filename =
      typeof attachment['filename'] === 'string' ? attachment['filename'] : undefined;
    const data = attachment['data'];
    if (typeof data !== 'string') continue;
    const content = take(decodeBase64(data, `attachments[${index}].data`).toString('utf8'));
    const mime = type.split(';')[0].trim().toLowerCase();
    if (mime === 'message/feedback-report') parts.reports.push(content);
    else if (isOriginalType(mime, filename)) parts.originals.push(content);
    else if (mime.startsWith('text/'))
      parts.texts.push(mime === 'text/html' ? htmlText(content) : content);
  }

  if (parts.reports.length === 0 && parts.originals.length === 0 && parts.texts.length === 0) {
    throw new ArfParseError('payload has neither a raw message nor a body or attachments');
  }
  return parts;
}

/**
 * Postal's JSON encoding gives a list; its FormData encoding flat keys (`attachments[0][data]`),
 * which a form parser leaves flat, or nests into a list or an index-keyed object.
 */
function postalAttachments(body: Record<string, unknown>): Record<string, unknown>[] {
  const list = body['attachments'];
  if (Array.isArray(list)) return list.filter(isRecord);
  if (isRecord(list)) return Object.values(list).filter(isRecord);
  if (list !== undefined && list !== null)
    throw new ArfParseError('payload attachments is not a list');

  const byIndex = new Map<number, Record<string, unknown>>();
  for (const [key, value] of Object.entries(body)) {
    const m = /^attachments\[(\d{1,4})\]\[(\w+)\]$/.exec(key);
    if (m) byIndex.set(Number(m[1]), { ...byIndex.get(Number(m[1])), [m[2]]: value });
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, attachment]) => attachment);
}

async function analyse(parts: ReportParts, depth: number): Promise<ArfComplaint[]> {
  // Reports forwarded as attachments (one, or a digest of several): read each report itself.
  if (parts.reports.length === 0 && depth < MAX_NESTING) {
    const forwarded: ArfComplaint[] = [];
    let failure: unknown = null;
    for (const original of parts.originals) {
      if (forwarded.length >= MAX_REPORTS) break;
      const contentType = first(parseHeaderFields(original, true), 'content-type') ?? '';
      if (!/^\s*multipart\/report\b/i.test(contentType) || !/feedback-report/i.test(contentType)) {
        continue;
      }
      try {
        forwarded.push(...(await parseMessage(original, depth + 1)));
      } catch (err) {
        if (!(err instanceof ArfParseError)) throw err;
        failure ??= err;
      }
    }
    if (forwarded.length > 0) return forwarded.slice(0, MAX_REPORTS);
    if (failure !== null) throw failure;
  }

  if (parts.reports.length <= 1) {
    return [complaintFrom(parts.reports[0] ?? null, parts.originals, parts.texts)];
  }
  // Several report parts in one message: each goes with the original part at its position.
  return parts.reports
    .slice(0, MAX_REPORTS)
    .map((report, i) =>
      complaintFrom(report, i < parts.originals.length ? [parts.originals[i]] : [], []),
    );
}

function complaintFrom(
  reportText: string | null,
  originals: string[],
  texts: string[],
): ArfComplaint {
  const report = reportText === null ? null : parseHeaderFields(reportText, false);
  const originalHeaders = originals.map((text) => parseHeaderFields(text, true));
  let emailId = pickFirst(originalHeaders, (h) => toUuid(first(h, 'x-email-id')));
  let postalMessageId = pickFirst(originalHeaders, (h) => toMessageId(first(h, 'message-id')));
  let postalToken = pickFirst(originalHeaders, (h) => toPostalToken(first(h, 'x-postal-msgid')));
  let originalTo = pickFirst(
    originalHeaders,
    (h) =>
      // Microsoft JMRP names the complaining mailbox in its own header on the original.
      toAddress(first(h, 'x-hmxmroriginalrecipient')) ?? toAddress(first(h, 'to')),
  );

  if (emailId === null) {
    for (const text of [...texts, ...originals]) {
      const inline = findInlineOriginal(text);
      if (!inline) continue;
      emailId = inline.emailId;
      postalMessageId ??= toMessageId(first(inline.headers, 'message-id'));
      postalToken ??= toPostalToken(first(inline.headers, 'x-postal-msgid'));
      originalTo ??= toAddress(first(inline.headers, 'to'));
      break;
    }
  }

  if (report === null && emailId === null && postalMessageId === null && postalToken === null) {
    throw new ArfParseError('no feedback report and no recognisable original message');
  }

  const field = (name: string) => (report === null ? null : first(report, name));
  const feedbackType = toFeedbackType(field('feedback-type'));
  const complaint: ArfComplaint = {
    feedbackType,
    userAgent: cap(field('user-agent')),
    originalRecipient:
      toAddress(field('original-rcpt-to')) ?? toAddress(field('removal-recipient')) ?? originalTo,
    originalMailFrom: toAddress(field('original-mail-from')),
    // Received-Date is the field's name in the drafts some older FBLs still follow.
    arrivalDate: toDate(field('arrival-date') ?? field('received-date')),
    reportedDomain: toDomain(field('reported-domain')),
    sourceIp: toIp(field('source-ip')),
    emailId,
    postalMessageId,
  };
  if (postalToken !== null) complaint.postalToken = postalToken;
  if (feedbackType === 'auth-failure') {
    // RFC 6591 §3.1 fields.
    complaint.authFailure = {
      authFailure: cap(field('auth-failure')?.toLowerCase() ?? null),
      authenticationResults: cap(field('authentication-results')),
      dkimDomain: toDomain(field('dkim-domain')),
      dkimIdentity: cap(field('dkim-identity')),
      dkimSelector: cap(field('dkim-selector')),
      spfDns: cap(field('spf-dns')),
      deliveryResult: cap(field('delivery-result')?.toLowerCase() ?? null),
      identityAlignment: cap(field('identity-alignment')),
    };
  }
  return complaint;
}

/**
 * RFC 5322 style fields: `Name: value`, continuation lines (leading WSP) unfolded. Names are
 * lower-cased; repeated fields keep every value in order. With `stopAtBlank`, reading stops at
 * the blank line ending a message's header section; a report part is read through.
 */
function parseHeaderFields(text: string, stopAtBlank: boolean): HeaderFields {
  const fields: HeaderFields = new Map();
  let name: string | null = null;
  let value = '';
  const flush = () => {
    if (name !== null) {
      const values = fields.get(name) ?? [];
      // Decoded parts may carry U+0000, which PostgreSQL cannot store or look up.
      values.push(toStorableString(value.trim()));
      fields.set(name, values);
    }
    name = null;
    value = '';
  };

  let seenField = false;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line.trim() === '') {
      flush();
      if (stopAtBlank && seenField) break;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (name !== null && value.length < MAX_VALUE_LENGTH) {
        value = (value + ' ' + line.trim()).slice(0, MAX_VALUE_LENGTH);
      }
      continue;
    }
    flush();
    const m = FIELD_LINE.exec(line);
    if (!m) {
      // A header section ends at the first line that is not a field (e.g. a mbox "From " line
      // is skipped only at the very start).
      if (stopAtBlank && seenField) break;
      continue;
    }
    seenField = true;
    name = m[1].toLowerCase();
    value = m[2].slice(0, MAX_VALUE_LENGTH);
  }
  flush();
  return fields;
}

/** An inline-forwarded original: the header block around an `X-Email-Id:` line. */
function findInlineOriginal(text: string): { emailId: string; headers: HeaderFields } | null {
  const match = EMAIL_ID_LINE.exec(text);
  if (!match) return null;
  const emailId = toUuid(match[1]);
  if (emailId === null) return null;

  const lines = text.split(/\r\n|\r|\n/).map((line) => line.replace(QUOTE_PREFIX, ''));
  const at = text.slice(0, match.index).split(/\r\n|\r|\n/).length - 1;
  const isHeaderish = (line: string) => FIELD_LINE.test(line) || /^[ \t]+\S/.test(line);
  let start = at;
  while (start > 0 && isHeaderish(lines[start - 1])) start--;
  let end = at + 1;
  while (end < lines.length && isHeaderish(lines[end])) end++;
  return { emailId, headers: parseHeaderFields(lines.slice(start, end).join('\n'), false) };
}

function isOriginalType(type: string, filename: string | undefined): boolean {
  return (
    type === 'message/rfc822' ||
    type === 'text/rfc822-headers' ||
    // The singular is a common misspelling among reporters.
    type === 'text/rfc822-header' ||
    type === 'message/rfc822-header' ||
    type === 'message/rfc822-headers' ||
    type === 'message/global' ||
    type === 'message/global-headers' ||
    /\.eml$/i.test(filename ?? '')
  );
}

function first(fields: HeaderFields, name: string): string | null {
  const value = fields.get(name)?.find((v) => v.length > 0);
  return value === undefined ? null : value;
}

function pickFirst<T>(items: T[], pick: (item: T) => string | null): string | null {
  for (const item of items) {
    const value = pick(item);
    if (value !== null) return value;
  }
  return null;
}

function toFeedbackType(value: string | null): string {
  // RFC 5965 requires the field; a report without a readable one is still a complaint.
  const m = FEEDBACK_TYPE.exec((value ?? '').trim().toLowerCase());
  return m ? m[0] : 'abuse';
}

function toUuid(value: string | null): string | null {
  const id = (value ?? '').trim().replace(/^<(.*)>$/, '$1');
  return UUID.test(id) ? id.toLowerCase() : null;
}

/** Postal's message token: `SecureRandom.alphanumeric(16)` (lib/postal/message_db/message.rb). */
function toPostalToken(value: string | null): string | null {
  const token = (value ?? '').trim();
  return /^[A-Za-z0-9_-]{1,64}$/.test(token) ? token : null;
}

function toMessageId(value: string | null): string | null {
  if (value === null) return null;
  const bracketed = /<([^<>\s]+)>/.exec(value);
  const id = bracketed ? bracketed[1] : value.trim().split(/\s+/)[0];
  return id && id.length <= MAX_FIELD_LENGTH ? id : null;
}

/** The address in `Name <a@b>`, `<a@b>`, `rfc822; a@b` or `a@b`; null when there is none. */
function toAddress(value: string | null): string | null {
  if (value === null) return null;
  const text = value.replace(/^\s*rfc822\s*;/i, '');
  const bracketed = /<([^<>\s]+@[^<>\s]+)>/.exec(text);
  const bare = /[^\s<>,;:"()[\]]+@[^\s<>,;:"()[\]]+/.exec(text);
  const address = (bracketed ? bracketed[1] : bare?.[0])?.replace(/\.$/, '');
  return address && address.length <= 320 ? address : null;
}

function toDate(value: string | null): Date | null {
  if (value === null) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function toDomain(value: string | null): string | null {
  const domain = (value ?? '').trim().toLowerCase().replace(/\.$/, '');
  return domain.length > 0 && domain.length <= 253 && DOMAIN.test(domain) ? domain : null;
}

function toIp(value: string | null): string | null {
  const ip = (value ?? '')
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/^ipv6:/i, '');
  return isIP(ip) === 0 ? null : ip;
}

function cap(value: string | null): string | null {
  if (value === null) return null;
  const cut = value.slice(0, 255);
  // Not half a surrogate pair: alone, it is text PostgreSQL's jsonb refuses.
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function htmlText(html: string): string {
  return htmlToText(html, { wordwrap: false });
}

function decodeBase64(value: string, field: string): Buffer {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ArfParseError(`${field} is not base64`);
  }
  if (Math.floor((compact.length * 3) / 4) > ARF_MAX_BYTES + 2) {
    throw new ArfParseError(`${field} is larger than ${ARF_MAX_BYTES} bytes`);
  }
  return Buffer.from(compact, 'base64');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
