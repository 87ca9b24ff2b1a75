/**
 * Decodes what Postal's HTTP endpoint posts (app/senders/http_sender.rb, lib/postal/http.rb in
 * postalserver/postal): `BodyAsJSON` is a JSON object with `Content-Type: application/json`;
 * `FormData` is `set_form_data`, i.e. `application/x-www-form-urlencoded` written by Ruby's
 * `URI.encode_www_form` — a nil value is a bare key, an Array one pair per element, the hash
 * format's attachments flat `attachments[i][field]` keys (the ARF parser reads those).
 */
export type DecodedInbound =
  { value: Record<string, unknown>; error?: undefined } | { error: string };

/** Cap on form fields (Postal's hash format has about 25 plus 4 per attachment). */
const MAX_FORM_FIELDS = 2000;

export function inboundRequestKind(contentType: string): string {
  const mime = contentType.split(';')[0].trim().toLowerCase();
  if (mime === 'application/x-www-form-urlencoded') return 'form';
  if (mime === 'application/json' || mime.endsWith('+json')) return 'json';
  return mime === '' ? 'none' : 'other';
}

export function decodeInboundBody(raw: Buffer, contentType: string): DecodedInbound {
  if (raw.length === 0) return { error: 'empty request body' };
  const kind = inboundRequestKind(contentType);
  const text = raw.toString('utf8');
  if (kind === 'form') return decodeForm(text);
  if (kind === 'json' || kind === 'none' || text.trimStart().startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { error: 'malformed JSON in the request body' };
    }
    return isRecord(value) ? { value } : { error: 'the JSON body is not an object' };
  }
  return { error: `unsupported Content-Type ${JSON.stringify(contentType.slice(0, 100))}` };
}

function decodeForm(text: string): DecodedInbound {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(text);
  } catch {
    return { error: 'malformed form body' };
  }
  const value: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let count = 0;
  for (const [key, v] of params) {
    if (++count > MAX_FORM_FIELDS) return { error: `more than ${MAX_FORM_FIELDS} form fields` };
    const existing = value[key];
    if (existing === undefined) value[key] = v;
    else if (Array.isArray(existing)) existing.push(v);
    else value[key] = [existing, v];
  }
  if (count === 0) return { error: 'empty form body' };
  return { value: { ...value } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
