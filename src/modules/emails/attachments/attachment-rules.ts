import { createHash } from 'node:crypto';
import {
  AttachmentForbiddenError,
  ErrorDetail,
  MessageTooLargeError,
  ValidationFailedError,
} from 'src/common/errors/app-error';

/** At most this many attachments per message. */
export const MAX_ATTACHMENTS = 100;

/**
 * File types mailbox providers refuse as attachments, by extension: Gmail's list of blocked
 * file types ("File types blocked in Gmail", support.google.com/mail/answer/6590), which
 * Outlook.com's blocked-attachment list overlaps.
 */
export const DENIED_EXTENSIONS: ReadonlySet<string> = new Set([
  'ade', 'adp', 'apk', 'appx', 'appxbundle', 'bat', 'cab', 'chm', 'cmd', 'com', 'cpl',
  'diagcab', 'diagcfg', 'diagpack', 'dll', 'dmg', 'ex', 'ex_', 'exe', 'hta', 'img', 'ins',
  'iso', 'isp', 'jar', 'jnlp', 'js', 'jse', 'lib', 'lnk', 'mde', 'mjs', 'msc', 'msi', 'msix',
  'msixbundle', 'msp', 'mst', 'nsh', 'pif', 'ps1', 'reg', 'scr', 'sct', 'shb', 'sys', 'vb',
  'vbe', 'vbs', 'vhd', 'vxd', 'wsc', 'wsf', 'wsh', 'xll',
]); // prettier-ignore

/** The same types by the media type a caller may give them (any parameters ignored). */
export const DENIED_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'application/x-msdownload',
  'application/x-msdos-program',
  'application/x-dosexec',
  'application/x-executable',
  'application/vnd.microsoft.portable-executable',
  'application/x-ms-installer',
  'application/x-msi',
  'application/x-ms-shortcut',
  'application/x-bat',
  'application/x-msdos-batch',
  'application/hta',
  'application/java-archive',
  'application/x-java-archive',
  'application/x-java-jnlp-file',
  'application/javascript',
  'application/x-javascript',
  'text/javascript',
  'application/ecmascript',
  'text/vbscript',
  'application/x-vbscript',
  'application/x-powershell',
  'application/vnd.android.package-archive',
  'application/x-apple-diskimage',
  'application/x-iso9660-image',
]);

const ALLOWED_KEYS = new Set(['filename', 'content', 'content_type', 'content_id']);
/** RFC 2045 `type/subtype` tokens, no parameters. */
const CONTENT_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** A Content-ID: the dot-atom characters of RFC 5322 plus `@`, without the angle brackets. */
const CONTENT_ID = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]{1,250}$/;
/** Path separators and control characters (C0, DEL, C1, and the Unicode line breaks). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_FILENAME_CHAR = /[/\\\x00-\x1f\x7f-\x9f\u2028\u2029]/;
/** Strict base64: the standard alphabet, padded to a multiple of 4, nothing else. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** `cid:` references in HTML attributes and CSS (RFC 2392 URLs). */
const CID_REFERENCE = /\bcid:([^"'\s)>]+)/gi;

/** An attachment checked and decoded at accept. */
export interface PreparedAttachment {
  filename: string;
  contentType: string;
  contentId: string | null;
  content: Buffer;
  size: number;
  sha256: string;
}

/** Decoded size of a strict-base64 string, without decoding it. */
function decodedLength(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

function invalid(index: number, key: string, message: string): ValidationFailedError {
  const field = `attachments[${index}]${key ? `.${key}` : ''}`;
  return new ValidationFailedError(`${field} ${message}`, [
    { field, message: `${field} ${message}` },
  ]);
}

/**
 * Checks and decodes a request's `attachments` (README "Sending": attachments): 400 for a
 * malformed one, 422 `attachment_forbidden` for an executable type, 413 when the attachments
 * and the bodies (`bodyBytes`) decode to more than `maxMessageBytes`. Every error names the
 * attachment's index. Sizes are checked from the base64 length before anything is decoded.
 */
export function prepareAttachments(
  value: unknown,
  maxMessageBytes: number,
  bodyBytes = 0,
): PreparedAttachment[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new ValidationFailedError('attachments must be an array', [
      { field: 'attachments', message: 'attachments must be an array' },
    ]);
  }
  if (value.length > MAX_ATTACHMENTS) {
    const message = `attachments may have at most ${MAX_ATTACHMENTS} entries`;
    throw new ValidationFailedError(message, [{ field: 'attachments', message }]);
  }
  let total = bodyBytes;
  const contentIds = new Set<string>();
  const checked = value.map((raw: unknown, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw invalid(i, '', 'must be an object {filename, content, content_type, content_id?}');
    }
    const a = raw as Record<string, unknown>;
    const extra = Object.keys(a).find((k) => !ALLOWED_KEYS.has(k));
    if (extra !== undefined) throw invalid(i, extra.slice(0, 40), 'is not an attachment field');
    const { filename, content, content_type: contentType, content_id: contentId } = a;
    if (typeof filename !== 'string' || filename.trim() === '') {
      throw invalid(i, 'filename', 'is required');
    }
    if (filename.length > 255) throw invalid(i, 'filename', 'is longer than 255 characters');
    if (BAD_FILENAME_CHAR.test(filename) || filename === '.' || filename === '..') {
      throw invalid(i, 'filename', 'must not contain path separators or control characters');
    }
    if (typeof contentType !== 'string' || !CONTENT_TYPE.test(contentType)) {
      throw invalid(i, 'content_type', 'must be a media type such as application/pdf');
    }
    if (contentId !== undefined && contentId !== null) {
      if (typeof contentId !== 'string' || !CONTENT_ID.test(contentId)) {
        throw invalid(i, 'content_id', 'must be 1–250 characters without <>, spaces or quotes');
      }
      if (contentIds.has(contentId.toLowerCase())) {
        throw invalid(i, 'content_id', 'is used by an earlier attachment');
      }
      contentIds.add(contentId.toLowerCase());
    }
    if (typeof content !== 'string' || content === '') {
      throw invalid(i, 'content', 'is required (base64)');
    }
    if (content.length % 4 !== 0 || !BASE64.test(content)) {
      throw invalid(i, 'content', 'must be standard base64 without line breaks or spaces');
    }
    total += decodedLength(content);
    if (total > maxMessageBytes) {
      const message =
        `attachments[${i}] brings the message to more than ${maxMessageBytes} bytes ` +
        '(MAX_MESSAGE_BYTES, attachments decoded plus html and text)';
      throw new MessageTooLargeError(message, [{ field: `attachments[${i}]`, message }]);
    }
    const ext = /\.([^.]+)$/.exec(filename.trim())?.[1]?.toLowerCase();
    const type = contentType.toLowerCase();
    if ((ext !== undefined && DENIED_EXTENSIONS.has(ext)) || DENIED_CONTENT_TYPES.has(type)) {
      const message =
        `attachments[${i}] is a file type mailbox providers refuse ` +
        `(${ext !== undefined && DENIED_EXTENSIONS.has(ext) ? `.${ext}` : type})`;
      throw new AttachmentForbiddenError(message, [{ field: `attachments[${i}]`, message }]);
    }
    return {
      filename,
      contentType: type,
      contentId: (contentId as string | null) ?? null,
      content,
    };
  });
  return checked.map((a) => {
    const bytes = Buffer.from(a.content, 'base64');
    return {
      filename: a.filename,
      contentType: a.contentType,
      contentId: a.contentId,
      content: bytes,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  });
}

/**
 * Every `cid:` an HTML body references must be an attachment's `content_id` (README
 * "Sending"): a broken inline image is a 400 at accept rather than a blank box in the inbox.
 * Only literal references are checked (a template may build others at render time).
 */
export function checkCidReferences(
  html: string | null | undefined,
  attachments: readonly PreparedAttachment[],
): void {
  if (!html || !html.toLowerCase().includes('cid:')) return;
  const known = new Set(
    attachments.filter((a) => a.contentId !== null).map((a) => a.contentId!.toLowerCase()),
  );
  const missing: ErrorDetail[] = [];
  for (const m of html.matchAll(CID_REFERENCE)) {
    let ref = m[1];
    if (ref.includes('{{')) continue;
    try {
      ref = decodeURIComponent(ref);
    } catch {
      // Not percent-encoded: compared as written.
    }
    if (!known.has(ref.toLowerCase())) {
      missing.push({
        field: 'html',
        message: `html references cid:${ref.slice(0, 100)} but no attachment has that content_id`,
      });
    }
  }
  if (missing.length > 0) throw new ValidationFailedError(missing[0].message, missing.slice(0, 10));
}
