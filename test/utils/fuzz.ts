import fc from 'fast-check';
import type { Response } from 'supertest';

/**
 * Shared arbitraries and checks for the fuzz suites (test/unit/fuzz, test/e2e/fuzz-*). JSON is
 * generated as text, so bodies can carry what `JSON.stringify` never writes: repeated keys,
 * own `__proto__` keys, `\u0000` and lone-surrogate escapes, numbers that parse to Infinity.
 */

/** Keys that have tripped prototype handling somewhere. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'toJSON',
  'toHTML',
  'then',
];

/** Strings that have broken parsers, databases, headers or HTML somewhere. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n',
  'x\r\nBcc: victim@example.com',
  '\t',
  '<script>alert(1)</script>',
  '"\'`=&<>',
  '"><img src=x onerror=alert(1)>',
  '{{constructor.constructor}}',
  '{{#each this}}{{/each}}',
  '${7*7}',
  '%00',
  '%',
  '%E0%A4%A',
  '../../etc/passwd',
  '\u202e\u200b\ufeff',
  '\ud83d\ude00\u0301',
  '\uffff\ufffe',
  'é'.normalize('NFD'),
  '-1',
  '0',
  'NaN',
  'null',
  'true',
  '[object Object]',
  ...PROTO_KEYS,
];

/** Arbitrary strings: ASCII, any code point, graphemes, the nasty list, and a long one. */
export function hostileString(maxLength = 40, longest = 5000): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('x', '\u00e9', '<', '\ud83d\ude00', '\u0000'),
          fc.nat({ max: longest }),
        )
        .map(([c, n]) => c.repeat(n)),
    },
  );
}

/** Without U+0000 (which the API refuses): for values meant to pass validation. */
export const storable = (s: string): string => s.replaceAll('\u0000', '');

/** A JSON object of variables that the API accepts: any keys, storable values of any type. */
export function variablesJson(): fc.Arbitrary<string> {
  const value = fc.oneof(
    hostileString(30).map((s) => JSON.stringify(storable(s))),
    fc.integer().map(String),
    fc.constantFrom('true', 'false', 'null', '1.5', '[]', '{}'),
    fc.array(hostileString(10), { maxLength: 3 }).map((a) => JSON.stringify(a.map(storable))),
  );
  const key = fc.oneof(fc.string({ maxLength: 10 }).map(storable), fc.constantFrom(...PROTO_KEYS));
  return fc
    .array(fc.tuple(key, value), { maxLength: 6 })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

/** JSON text of a string, sometimes with a `\u0000` or lone-surrogate escape written in. */
export function hostileStringJson(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: hostileString(maxLength).map((s) => JSON.stringify(s)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          hostileString(10),
          fc.constantFrom('\\u0000', '\\ud800', '\\udfff', '\\ud800\\u0041'),
        )
        .map(([s, esc]) => `"${JSON.stringify(s).slice(1, -1)}${esc}"`),
    },
  );
}

const NUMBERS = [
  '0',
  '-0',
  '1',
  '-1',
  '1.5',
  '1e308',
  '1e400',
  '-1e400',
  '2147483648',
  '9007199254740993',
  '1e-400',
  '0.1',
];

/** JSON text of any value: scalars of every type, arrays, objects with hostile and repeated keys. */
export function hostileJson(maxDepth = 3): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 10 }) },
    { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
    { weight: 1, arbitrary: hostileString(12) },
  );
  const { value } = fc.letrec<{ value: string; leaf: string; array: string; object: string }>(
    (tie) => ({
      value: fc.oneof({ maxDepth, depthSize: 'small' }, tie('leaf'), tie('array'), tie('object')),
      leaf: fc.oneof(
        { weight: 4, arbitrary: hostileStringJson() },
        { weight: 2, arbitrary: fc.constantFrom('true', 'false', 'null', ...NUMBERS) },
        { weight: 1, arbitrary: fc.integer().map(String) },
        {
          weight: 1,
          arbitrary: fc
            .double({ noNaN: true, noDefaultInfinity: true })
            .map((d) => JSON.stringify(d)),
        },
      ),
      array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
      object: fc
        .array(fc.tuple(key, tie('value')), { maxLength: 5 })
        .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    }),
  );
  return value;
}

/** Objects (as JSON text) whose values are hostile: for fields that must be an object. */
export function hostileObjectJson(): fc.Arbitrary<string> {
  return fc
    .array(
      fc.tuple(
        fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...PROTO_KEYS)),
        hostileJson(2),
      ),
      { maxLength: 6 },
    )
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

/**
 * A JSON object body built field by field: each known field is left out, given a value that
 * should pass validation, or given an arbitrary value; unknown and prototype keys are mixed in.
 * A quarter of the bodies use valid values only (required fields always present), so a good
 * share of the requests get past validation and into the code behind it.
 */
export function dtoBody(
  fields: Record<string, fc.Arbitrary<string>>,
  opts: { required?: string[] } = {},
): fc.Arbitrary<string> {
  const required = new Set(opts.required ?? []);
  const body = (hostileWeight: number, extraKeys: boolean) => {
    const entries = Object.entries(fields).map(([name, valid]) =>
      fc
        .oneof(
          // In the all-valid variant a required field is always there.
          {
            weight: hostileWeight === 0 && required.has(name) ? 0 : 2,
            arbitrary: fc.constant(null),
          },
          { weight: 6, arbitrary: valid },
          { weight: hostileWeight, arbitrary: hostileJson(2) },
        )
        .map((v) => (v === null ? null : ([name, v] as const))),
    );
    const extra = extraKeys
      ? fc.array(
          fc.tuple(
            fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 8 })),
            hostileJson(1),
          ),
          { minLength: 1, maxLength: 2 },
        )
      : fc.constant([]);
    return fc.tuple(fc.tuple(...entries), extra).map(([known, unknown]) => {
      const all = [...known.filter((e) => e !== null), ...unknown];
      return `{${all.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
    });
  };
  return fc.oneof(body(0, false), body(1, false), body(3, false), body(2, true));
}

/** A JSON string value from a list. */
export const jsonOf = <T>(...values: T[]): fc.Arbitrary<string> =>
  fc.constantFrom(...values).map((v) => JSON.stringify(v));

/** Bodies that are not (quite) JSON, with the content types clients get wrong. */
export function malformedBody(): fc.Arbitrary<{ body: string | Buffer; contentType?: string }> {
  const text = fc.oneof(
    fc.constantFrom(
      '',
      '{',
      '{"to": "a@b.c",',
      '[',
      'null',
      '"just a string"',
      '42',
      'true',
      '[]',
      '{"a":1}{"b":2}',
      '{"__proto__": {"polluted": "yes"}}',
      '{"constructor": {"prototype": {"polluted": "yes"}}}',
      '\ufeff{"to": "a@b.c"}',
      '{"to": "a@b.c", "to": {"email": 1}}',
      "{'to': 'a@b.c'}",
      '{"to": NaN}',
      '{"to": undefined}',
      'to=a%40b.c&subject=x',
      'List-Unsubscribe=One-Click',
      '\u0000\u0000',
      '<?xml version="1.0"?><to>a@b.c</to>',
    ),
    fc.string({ unit: 'binary', maxLength: 200 }),
    hostileJson(3).map((json) => json.slice(0, Math.max(0, json.length - 1))),
  );
  const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
  const contentType = fc.constantFrom(
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'application/json; charset=nonsense',
    'application/json; charset="',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'multipart/form-data',
    'application/octet-stream',
    'application/xml',
    'application/vnd.api+json',
    '*/*',
    ';;;',
    'application/json, text/plain',
  );
  return fc.record({ body: fc.oneof(text, bytes), contentType });
}

/** A query string from known parameters (valid or hostile values), repeats and junk keys. */
export function queryString(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const pairs = Object.entries(fields).map(([name, valid]) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as Array<[string, string]>) },
      { weight: 3, arbitrary: valid.map((v) => [[name, v]] as Array<[string, string]>) },
      {
        weight: 2,
        arbitrary: hostileString(30, 400).map((v) => [[name, v]] as Array<[string, string]>),
      },
      {
        weight: 1,
        arbitrary: fc
          .array(hostileString(10, 100), { minLength: 2, maxLength: 3 })
          .map((vs) => vs.map((v) => [name, v] as [string, string])),
      },
      { weight: 1, arbitrary: fc.constant([[`${name}[x]`, '1']] as Array<[string, string]>) },
    ),
  );
  const junk = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 6 })),
      hostileString(10, 100),
    ),
    {
      maxLength: 2,
    },
  );
  return fc.tuple(fc.tuple(...pairs), junk).map(([known, extra]) => {
    const all = [...known.flat(), ...extra];
    return all.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
  });
}

/** encodeURIComponent that survives lone surrogates (sent as their UTF-8 replacement). */
export function encodeComponent(value: string): string {
  return encodeURIComponent(
    value.replace(
      /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
      '\ufffd',
    ),
  );
}

/** A path segment: arbitrary text, percent-encoded, or raw dots and encoded slashes. */
export function pathSegment(valid: fc.Arbitrary<string> = fc.constant('x')): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 2, arbitrary: valid.map(encodeComponent) },
    {
      weight: 3,
      arbitrary: hostileString(60, 150)
        .filter((s) => s !== '')
        .map(encodeComponent),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%00',
        '%2F',
        '%2e%2e',
        '%',
        '%zz',
        '..',
        '.',
        '%E0%A4%A',
        '%C0%AF',
      ),
    },
    { weight: 1, arbitrary: fc.nat({ max: 3000 }).map((n) => 'a'.repeat(n + 1)) },
  );
}

const ERROR_CODES = new Set([
  'validation_error',
  'unauthorized',
  'forbidden',
  'blocked',
  'not_found',
  'method_not_allowed',
  'template_not_found',
  'idempotency_key_conflict',
  'payload_too_large',
  'unsupported_media_type',
  'recipient_suppressed',
  'template_invalid',
  'rate_limit_exceeded',
  'service_unavailable',
]);

/** What a request did, for failure messages (fast-check prints the input and the seed). */
export function describeResponse(res: Response): string {
  const body = res.text ?? '';
  return `${res.status} ${body.length > 600 ? `${body.slice(0, 600)}…` : body}`;
}

/**
 * Every API answer's contract (README "API overview"): never a 5xx; an error is a 4xx with the one
 * error body and a known code; every answer carries X-Request-Id.
 */
export function expectApiAnswer(res: Response, allowed: number[] = []): void {
  const what = describeResponse(res);
  if (res.status >= 500) throw new Error(`server error: ${what}`);
  if (!res.headers['x-request-id']) throw new Error(`no X-Request-Id: ${what}`);
  if (res.status < 400) {
    if (allowed.length && !allowed.includes(res.status)) throw new Error(`unexpected ${what}`);
    return;
  }
  const body = res.body as { error?: { code?: unknown; message?: unknown }; request_id?: unknown };
  if (
    !body ||
    typeof body !== 'object' ||
    typeof body.error !== 'object' ||
    body.error === null ||
    typeof body.error.code !== 'string' ||
    typeof body.error.message !== 'string' ||
    typeof body.request_id !== 'string'
  ) {
    throw new Error(`not the error shape: ${what}`);
  }
  if (!ERROR_CODES.has(body.error.code)) throw new Error(`unknown error code: ${what}`);
}

/** Property names of Object.prototype now; compared after a run to catch prototype pollution. */
export function prototypeSnapshot(): string {
  return [
    ...Object.getOwnPropertyNames(Object.prototype),
    ...Object.getOwnPropertyNames(Array.prototype),
    ...Object.getOwnPropertyNames(Function.prototype),
  ]
    .sort()
    .join(',');
}
