import isEmail from 'validator/lib/isEmail';

export interface Mailbox {
  name: string | null;
  address: string;
}

const CRLF = /[\r\n]/;

export function isEmailAddress(value: string): boolean {
  return (
    value.length <= 320 &&
    !CRLF.test(value) &&
    isEmail(value, { allow_utf8_local_part: true, require_tld: false, allow_ip_domain: false })
  );
}

/**
 * Parses `addr` or `Display Name <addr>` (display name optionally quoted). Returns null for
 * anything else, including CR/LF anywhere (header injection).
 */
export function parseMailbox(value: string): Mailbox | null {
  if (typeof value !== 'string' || CRLF.test(value)) return null;
  const v = value.trim();
  const angle = /^(.*?)\s*<([^<>]+)>$/.exec(v);
  if (angle) {
    let name = angle[1].trim();
    if (name.startsWith('"') && name.endsWith('"') && name.length >= 2)
      name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    const address = angle[2].trim();
    if (!isEmailAddress(address) || /[<>]/.test(name)) return null;
    return { name: name || null, address };
  }
  return isEmailAddress(v) ? { name: null, address: v } : null;
}

/** RFC 5322 mailbox text: quotes the display name when it needs it. */
export function formatMailbox(m: Mailbox): string {
  if (!m.name) return m.address;
  const safe = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ .]*$/.test(m.name) && !/^\s|\s$/.test(m.name);
  const name = safe ? m.name : `"${m.name.replace(/(["\\])/g, '\\$1')}"`;
  return `${name} <${m.address}>`;
}
