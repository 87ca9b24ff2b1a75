import { registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { isEmailAddress, parseMailbox } from 'src/modules/emails/mailbox';

export const NO_CRLF = /^[^\r\n]*$/;
export const MAX_SEND_AHEAD_MS = 30 * 24 * 3600 * 1000;
const HEADER_NAME = /^[!-9;-~]{1,76}$/;
/** Headers the service sets itself; a caller may not override them. */
export const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'x-email-id',
]);

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
  if (typeof value === 'string') return isEmailAddress(value.trim());
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { email, name, ...rest } = value as Record<string, unknown>;
    if (Object.keys(rest).length > 0) return false;
    if (typeof email !== 'string' || !isEmailAddress(email.trim())) return false;
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

export const IsMailbox = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isMailbox',
    '$property must be an address or "Name <address>" without line breaks',
    (v) => typeof v === 'string' && v.length <= 998 && parseMailbox(v) !== null,
    o,
  );

export function headersProblem(value: unknown): string | null {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return 'headers must be an object';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 50) return 'headers may have at most 50 entries';
  for (const [k, v] of entries) {
    if (!HEADER_NAME.test(k)) return `header name "${k.slice(0, 40)}" is not a valid field name`;
    if (RESERVED_HEADERS.has(k.toLowerCase())) return `header "${k}" is set by the service`;
    if (typeof v !== 'string') return `header "${k}" must be a string`;
    if (!NO_CRLF.test(v)) return `header "${k}" must not contain CR or LF`;
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

/** ISO 8601 with a time zone, at most 30 days ahead. */
export const IsSendAt = (o?: ValidationOptions): PropertyDecorator =>
  decorator(
    'isSendAt',
    '$property must be an ISO 8601 timestamp with a time zone, at most 30 days ahead',
    (v) => {
      if (
        typeof v !== 'string' ||
        !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)
      )
        return false;
      const t = Date.parse(v);
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
