import MailComposer from 'nodemailer/lib/mail-composer';
import { parseMailbox } from 'src/modules/emails/mailbox';
import type { OutgoingMessage } from 'src/modules/emails/transport/mail-transport';

/**
 * The header names the service writes, spelled as the service spells them: MailComposer would
 * otherwise rewrite `X-Email-Id` as `X-Email-ID` (header names are case-insensitive, but
 * people and filters read them).
 */
function headerSpelling(names: string[]): (key: string) => string {
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  return (key) => byLower.get(key.toLowerCase()) ?? key;
}

/**
 * One recipient's copy as RFC 5322 MIME (docs/ARCHITECTURE.md "Transports"), built by
 * nodemailer's MailComposer: From, To and Cc (every To/Cc address of the message; Bcc never),
 * Reply-To, Subject, our Message-ID, the caller's and the service's headers (X-Email-Id,
 * List-Unsubscribe/-Post, X-Postal-Tag for Postal's tag), text and HTML alternatives, inline
 * parts (multipart/related, `Content-ID`) and attachments. Nothing is read from disk or URLs.
 */
export async function buildMime(m: OutgoingMessage): Promise<Buffer> {
  const from = parseMailbox(m.from);
  const to = m.toHeader ?? [{ address: m.to, name: m.toName ?? null }];
  const headers: Record<string, string> = { ...m.headers };
  if (m.tag) headers['X-Postal-Tag'] = m.tag;
  const composer = new MailComposer({
    from: from ? { name: from.name ?? '', address: from.address } : m.from,
    to: to.map((a) => ({ name: a.name ?? '', address: a.address })),
    ...(m.ccHeader?.length
      ? { cc: m.ccHeader.map((a) => ({ name: a.name ?? '', address: a.address })) }
      : {}),
    ...(m.replyTo ? { replyTo: m.replyTo } : {}),
    subject: m.subject,
    ...(m.text !== null ? { text: m.text } : {}),
    ...(m.html !== null ? { html: m.html } : {}),
    ...(m.rfcMessageId ? { messageId: m.rfcMessageId } : {}),
    // Values are single-line (checked at accept); non-ASCII is RFC 2047-encoded, long lines
    // folded at white space only (a long List-Unsubscribe URL unfolds to itself).
    headers,
    attachments: (m.attachments ?? []).map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : {}),
    })),
    normalizeHeaderKey: headerSpelling(Object.keys(headers)),
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const node = composer.compile();
  return node.build();
}
