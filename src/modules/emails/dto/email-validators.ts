import { registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { isEmailAddress, parseMailbox } from 'src/modules/emails/mailbox';

/**
 * Characters that end a line somewhere: CR and LF for SMTP, and VT, FF, NEL (U+0085), LINE
 * SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029), which MIME libraries, mail clients and
 * log viewers treat as line breaks too. None may appear in a field that lands in a header
 * (README "API overview": subject, from, reply_to, header names and values, recipient name).
 */
export const LINE_BREAK = /[\r\n\v\f\u0085\u2028\u2029]/;
/** A value without any LINE_BREAK character. */
export const NO_CRLF = /^[^\r\n\v\f\u0085\u2028\u2029]*$/;
export const MAX_SEND_AHEAD_MS = 30 * 24 * 3600 * 1000;
const HEADER_NAME = /^[!-9;-~]{1,76}$/;

/**
 * Headers a caller may not set (README "Sending"), compared case-insensitively: the ones the
 * service writes itself, trace and authentication headers only an MTA may add, the MIME
 * structure Postal builds, and every `X-Postal-*` header. Postal treats a message that already
 * carries `X-Postal-MsgID` as processed and skips its own DKIM signature and bounce token
 * (postalserver/postal lib/postal/message_db/message.rb, `has_outgoing_headers?`).
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  // Set by the service from the request.
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'message-id',
  'date',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'x-email-id',
  // Trace and authentication: added by MTAs on the way, forged when a sender sets them.
  'received',
  'return-path',
  'dkim-signature',
  'authentication-results',
  // MIME structure: Postal builds it from html/text.
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
]);
/** Header families reserved by prefix (ARC-Seal, Resent-From, X-Postal-MsgID, …). */
export const RESERVED_HEADER_PREFIXES: readonly string[] = ['arc-', 'resent-', 'x-postal-'];

/** Whether a caller may not set this header (any case). */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || RESERVED_HEADER_PREFIXES.some((p) => lower.startsWith(p));
}

function decorator(
  name: string,
  message: string | ((args: ValidationArguments) => string),
  validate: (value: unknown) => boolean,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message, ...options },
      validator: { validate },
    });
}

/** A string address, or `{email, name?}`. */
export function isRecipient(value: unknown): boolean {
  if (typeof value === 'string') return NO_CRLF.test(value) && isEmailAddress(value.trim());
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { email, name, ...rest } = value as Record<string, unknown>;
    if (Object.keys(rest).length > 0) return false;
    if (typeof email !== 'string' || !NO_CRLF.test(email) || !isEmailAddress(email.trim()))
      return false;
    return (
      name === undefined ||
      name === null ||
      (typeof name === 'string' && name.length <= 200 && NO_CRLF.test(name))
    );
  }
  return false;
}

export const IsRecipient = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isRecipient',
    '$property must be an email address or {"email", "name"}',
    isRecipient,
    o,
  );

/** Postal's limit on each of to, cc and bcc (send_controller.rb: TooMany*Addresses). */
export const MAX_ADDRESSES_PER_FIELD = 50;

/** One recipient, or a list of 1–50 of them (`to`). */
export const IsRecipientOrList = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isRecipientOrList',
    (args) =>
      Array.isArray(args.value) && args.value.length > MAX_ADDRESSES_PER_FIELD
        ? `The maximum number of ${args.property === 'to' ? 'To' : args.property} addresses has been reached (maximum ${MAX_ADDRESSES_PER_FIELD})`
        : '$property must be an email address or {"email", "name"}, or a list of 1 to 50 of them',
    (v) =>
      isRecipient(v) ||
      (Array.isArray(v) &&
        v.length >= 1 &&
        v.length <= MAX_ADDRESSES_PER_FIELD &&
        v.every(isRecipient)),
    o,
  );

/** A list of 0–50 recipients (`cc`, `bcc`). */
export const IsRecipientList = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isRecipientList',
    (args) =>
      Array.isArray(args.value) && args.value.length > MAX_ADDRESSES_PER_FIELD
        ? `The maximum number of ${String(args.property).toUpperCase()} addresses has been reached (maximum ${MAX_ADDRESSES_PER_FIELD})`
        : '$property must be a list of email addresses or {"email", "name"} objects',
    (v) => Array.isArray(v) && v.length <= MAX_ADDRESSES_PER_FIELD && v.every(isRecipient),
    o,
  );

export const IsMailbox = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isMailbox',
    '$property must be an address or "Name <address>" without line breaks',
    (v) => typeof v === 'string' && v.length <= 998 && NO_CRLF.test(v) && parseMailbox(v) !== null,
    o,
  );

export function headersProblem(value: unknown): string | null {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return 'headers must be an object';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 50) return 'headers may have at most 50 entries';
  for (const [k, v] of entries) {
    if (!HEADER_NAME.test(k)) return `header name "${k.slice(0, 40)}" is not a valid field name`;
    if (isReservedHeader(k)) return `header "${k}" may not be set by the caller`;
    if (typeof v !== 'string') return `header "${k}" must be a string`;
    if (!NO_CRLF.test(v)) return `header "${k}" must not contain a line break`;
    if (v.length > 998) return `header "${k}" is longer than 998 characters`;
  }
  return null;
}

export const IsHeaderMap = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isHeaderMap',
    (args) => headersProblem(args.value) ?? '$property is invalid',
    (v) => headersProblem(v) === null,
    o,
  );

const ZONED_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * The instant of an ISO 8601 time with a zone, or NaN. Date.parse rolls impossible fields over
 * (February 30 becomes March 2, 24:30 the next day), so every field is checked against the
 * calendar first.
 */
export function parseZonedTime(value: string): number {
  const m = ZONED_TIME.exec(value);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s = '00', , zh = '00', zm = '00'] = m;
  const day = new Date(Date.UTC(+y, +mo - 1, +d));
  if (
    day.getUTCFullYear() !== +y ||
    day.getUTCMonth() !== +mo - 1 ||
    day.getUTCDate() !== +d ||
    +h > 23 ||
    +mi > 59 ||
    +s > 59 ||
    +zh > 23 ||
    +zm > 59
  ) {
    return NaN;
  }
  return Date.parse(value);
}

/** ISO 8601 with a time zone, on a real calendar date, at most 30 days ahead. */
export const IsSendAt = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isSendAt',
    '$property must be an ISO 8601 timestamp with a time zone on a real date, at most 30 days ahead',
    (v) => {
      if (typeof v !== 'string') return false;
      const t = parseZonedTime(v);
      return Number.isFinite(t) && t <= Date.now() + MAX_SEND_AHEAD_MS;
    },
    o,
  );

/** A JSON object (not an array), for template variables. */
export const IsPlainObject = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isPlainObject',
    '$property must be a JSON object',
    (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
    o,
  );
