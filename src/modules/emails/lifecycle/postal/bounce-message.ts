import { simpleParser } from 'mailparser';

/**
 * Reads a bounce (non-delivery report) as Postal stores it — the raw message its message API
 * returns — as MIME, and takes the per-recipient fields of its RFC 3464 delivery status
 * (`message/delivery-status`, or RFC 6533 `message/global-delivery-status`): `Status`,
 * `Action`, `Diagnostic-Code`, `Remote-MTA`. The human-readable text is kept as a fallback for
 * bounces without a machine-readable part (README "How mail flows", outcomes).
 */

/** Only the head of a huge bounce is parsed: the report parts precede the returned message. */
export const BOUNCE_PARSE_MAX_BYTES = 1024 * 1024;
const MAX_TEXT_CHARS = 20_000;
const MAX_FIELD_CHARS = 1000;

/** The per-recipient DSN fields of the recipient that bounced (RFC 3464 §2.3). */
export interface DsnRecipient {
  finalRecipient: string | null;
  /** `failed`, `delayed`, `delivered`, `relayed` or `expanded` (lower-cased). */
  action: string | null;
  /** The enhanced status code, e.g. `5.1.1`. */
  status: string | null;
  /** Diagnostic text without its type, e.g. `550 5.1.1 <a@b>: User unknown`. */
  diagnosticCode: string | null;
  /** The type of the diagnostic, e.g. `smtp` or `X-Postfix`. */
  diagnosticType: string | null;
  /** The remote MTA's name, e.g. `mx.example.com`. */
  remoteMta: string | null;
}

export interface ParsedBounce {
  /** Null when the message has no readable delivery-status part. */
  dsn: DsnRecipient | null;
  /** The human-readable text parts (first of them all, whitespace kept). */
  text: string | null;
  subject: string | null;
}

/**
 * Parses the bounce; `recipient` picks the matching per-recipient block when a report covers
 * several recipients. Never throws for malformed input: unreadable parts are just absent.
 */
export async function parseBounceMessage(raw: Buffer, recipient?: string): Promise<ParsedBounce> {
  const head = raw.length > BOUNCE_PARSE_MAX_BYTES ? raw.subarray(0, BOUNCE_PARSE_MAX_BYTES) : raw;
  let mail;
  try {
    mail = await simpleParser(head, {
      keepDeliveryStatus: true,
      // The returned original stays an attachment: its text is not the bounce's.
      ignoreEmbedded: true,
      skipHtmlToText: false,
      skipImageLinks: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      checksumAlgo: false,
      maxChildNodes: 200,
      maxHeadSize: 256 * 1024,
    });
  } catch {
    return {
      dsn: null,
      text: head.toString('utf8').slice(0, MAX_TEXT_CHARS) || null,
      subject: null,
    };
  }
  let dsn: DsnRecipient | null = null;
  for (const attachment of mail.attachments) {
    const type =
      typeof attachment.contentType === 'string' ? attachment.contentType.toLowerCase() : '';
    if (type !== 'message/delivery-status' && type !== 'message/global-delivery-status') continue;
    dsn = parseDeliveryStatus(attachment.content.toString('utf8'), recipient);
    if (dsn) break;
  }
  const text = typeof mail.text === 'string' && mail.text.trim() ? mail.text : null;
  return {
    dsn,
    text: text ? text.slice(0, MAX_TEXT_CHARS) : null,
    subject: typeof mail.subject === 'string' ? mail.subject.slice(0, MAX_FIELD_CHARS) : null,
  };
}

/** `Name: value` fields of one block, folded lines unfolded; names lower-cased. */
function fieldsOf(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`.slice(0, MAX_FIELD_CHARS));
      continue;
    }
    const m = /^([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (!m) continue;
    last = m[1].toLowerCase();
    // The first occurrence of a field counts (RFC 3464 allows each once per block).
    if (!fields.has(last)) fields.set(last, m[2].trim().slice(0, MAX_FIELD_CHARS));
    else last = null;
  }
  return fields;
}

/** Strips an `addr-type;` / `mta-name-type;` / `diagnostic-type;` prefix. */
function typed(value: string | undefined): { type: string | null; value: string | null } {
  if (!value) return { type: null, value: null };
  const m = /^([A-Za-z0-9-]+)[ \t]*;[ \t]*(.*)$/s.exec(value);
  return m
    ? { type: m[1], value: m[2].trim() || null }
    : { type: null, value: value.trim() || null };
}

const bareAddress = (v: string | null): string | null =>
  v ? v.replace(/^<|>$/g, '').trim().toLowerCase() || null : null;

/**
 * The per-recipient block for `recipient` (by Final- or Original-Recipient), else the first
 * one whose action is `failed`, else the first one. Null without any per-recipient block.
 */
export function parseDeliveryStatus(content: string, recipient?: string): DsnRecipient | null {
  const blocks = content
    .split(/\r?\n[ \t]*\r?\n/)
    .map(fieldsOf)
    .filter((f) => f.size > 0);
  // The first block is per-message (Reporting-MTA…); a block with Action or Status is per-recipient.
  const recipients = blocks.filter(
    (f) => f.has('action') || f.has('status') || f.has('final-recipient'),
  );
  if (recipients.length === 0) return null;
  const want = recipient?.trim().toLowerCase();
  const pick =
    (want &&
      recipients.find(
        (f) =>
          bareAddress(typed(f.get('final-recipient')).value) === want ||
          bareAddress(typed(f.get('original-recipient')).value) === want,
      )) ||
    recipients.find((f) => f.get('action')?.toLowerCase().startsWith('failed')) ||
    recipients[0];
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(pick.get('status') ?? '')?.[1] ?? null;
  const diagnostic = typed(pick.get('diagnostic-code'));
  return {
    finalRecipient: bareAddress(typed(pick.get('final-recipient')).value),
    action: pick.get('action')?.split(/[\s(]/)[0].toLowerCase() || null,
    status,
    diagnosticCode: diagnostic.value,
    diagnosticType: diagnostic.type,
    remoteMta: typed(pick.get('remote-mta')).value,
  };
}
