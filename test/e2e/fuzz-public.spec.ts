import { createHmac, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { parse, type DefaultTreeAdapterTypes } from 'parse5';
import iconv from 'iconv-lite';
import request, { Response } from 'supertest';
import { toStorableString } from 'src/common/text/storable-text';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';
import { isTrackableHttpUrl } from 'src/modules/emails/tracking/tracking-token';
import { buildArfReport, postalRawPayload } from 'test/fakes/arf-message';
import { signPostalWebhook } from 'test/fakes/postal-webhook-signer';
import {
  describeResponse,
  expectApiAnswer,
  hostileJson,
  hostileObjectJson,
  hostileString,
  hostileStringJson,
  malformedBody,
  pathSegment,
  prototypeSnapshot,
} from 'test/utils/fuzz';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(120_000);

/**
 * Property tests over the unauthenticated routes (README "Unauthenticated"): open pixel, click
 * redirect, unsubscribe page and post, Postal's webhook and the inbound FBL endpoint. Never a
 * 5xx; the /api routes answer errors in the one error body; a tampered token never redirects;
 * a signed webhook is stored and processed, a mutated one is refused; and the links of a sent
 * message lead exactly where the author pointed them.
 */

const RUNS = 40;
const INBOUND_SECRET = 'inbound-secret-0123456789';
const HMAC_KEY = 'fuzz-proxy-signing-key';
const PIXEL_BYTES = 43;

type Node = DefaultTreeAdapterTypes.Node;
type Element = DefaultTreeAdapterTypes.Element;

const POSTAL_EVENTS = [
  'MessageSent',
  'MessageDelayed',
  'MessageDeliveryFailed',
  'MessageHeld',
  'MessageBounced',
  'MessageLinkClicked',
  'MessageLoaded',
  'DomainDNSError',
  'SendLimitApproaching',
  'SendLimitExceeded',
];

/** Postal writes JSON the Rails way: `<`, `>` and `&` escaped (they occur only inside strings). */
const railsEscape = (json: string): string =>
  json.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function elements(html: string): Element[] {
  const found: Element[] = [];
  const pending: Node[] = [parse(html)];
  for (let node = pending.pop(); node; node = pending.pop()) {
    if ('tagName' in node) found.push(node);
    if ('childNodes' in node) pending.push(...[...node.childNodes].reverse());
  }
  return found;
}

function textContent(html: string): string {
  let text = '';
  const visit = (node: Node) => {
    if (node.nodeName === '#text') text += (node as DefaultTreeAdapterTypes.TextNode).value;
    if ('childNodes' in node) node.childNodes.forEach(visit);
  };
  visit(parse(html));
  return text;
}

function decodable(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

const escapeHtml = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

describe('public routes fuzz (e2e)', () => {
  let t: TestApp;
  let base: string;
  let key: string;
  let privateKey: KeyObject;
  let links: TrackingLinksService;
  /** A delivered message to aim webhooks, tokens and complaints at. */
  let target: { id: string; providerId: string; token: string; postalMessageId: string };
  let prototypes: string;

  beforeAll(async () => {
    privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      POSTAL_WEBHOOK_PUBLIC_KEY: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      POSTAL_SIGNING_KEY: HMAC_KEY,
      INBOUND_SECRET,
      DEFAULT_FROM: 'Fuzz <fuzz@shop.example>',
      RATE_LIMIT_IP_PER_MIN: '1000000',
      RATE_LIMIT_KEY_PER_MIN: '1000000',
      AUTH_BAN_MAX_FAILURES: '1000000',
    });
    key = await t.createKey('full');
    links = t.app.get(TrackingLinksService);
    await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    const id = await sendAndDeliver({
      to: `target-${randomUUID().slice(0, 8)}@fuzz.example`,
      subject: 'target',
      html: '<p>target</p>',
    });
    const row = (
      await t.dataSource.query(
        `SELECT provider_message_id, provider_token, postal_message_id FROM email_logs
          WHERE external_message_id = $1`,
        [id],
      )
    )[0];
    target = {
      id,
      providerId: row.provider_message_id,
      token: row.provider_token,
      postalMessageId: row.postal_message_id,
    };
    prototypes = prototypeSnapshot();
  });
  afterEach(() => {
    if (prototypes === undefined) return; // beforeAll failed: that failure is the report
    expect(prototypeSnapshot()).toBe(prototypes);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
  afterAll(async () => {
    if (!t) return;
    expect((await request(base).get('/health/live')).status).toBe(200);
    await t.close();
  });

  async function sendAndDeliver(body: Record<string, unknown>): Promise<string> {
    const res = await request(base)
      .post('/api/v1/send')
      .set('Authorization', `Bearer ${key}`)
      .send(body);
    if (res.status !== 202) throw new Error(`send failed: ${describeResponse(res)}`);
    const id = res.body.message_id as string;
    await waitFor(
      async () =>
        (
          await t.dataSource.query(
            `SELECT 1 FROM email_logs WHERE external_message_id = $1 AND provider_message_id IS NOT NULL`,
            [id],
          )
        ).length > 0,
      `message ${id} handed to the sandbox`,
      30_000,
    );
    return id;
  }

  /** Never a 5xx; on /t/c (JSON errors) the error body too. */
  function expectSane(res: Response): void {
    if (res.status >= 500) throw new Error(`server error: ${describeResponse(res)}`);
  }

  describe('GET /t/o/:token', () => {
    it('answers the 43-byte pixel for any token', async () => {
      await fc.assert(
        fc.asyncProperty(
          pathSegment(fc.constant(links.openUrl(target.id).split('/').pop()!)),
          async (seg) => {
            const res = await request(base).get(`/t/o/${seg}`).buffer(true);
            expectSane(res);
            if (!decodable(seg)) {
              // The router cannot even read the path (e.g. %C0%AF): a plain 400, no token to judge.
              expect(res.status).toBe(400);
              return;
            }
            expect(res.status).toBe(200);
            expect(res.headers['content-type']).toBe('image/gif');
            expect(Number(res.headers['content-length'])).toBe(PIXEL_BYTES);
          },
        ),
        { numRuns: RUNS },
      );
    });
  });

  describe('GET /t/c/:token', () => {
    /** A genuine click token, and what tampering does to it. */
    const mutatedToken = (token: string) =>
      fc.oneof(
        fc
          .tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'AZaz09-_.=+/%'))
          .filter(([i, c]) => token[i] !== c)
          .map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)),
        fc.nat({ max: token.length - 1 }).map((i) => token.slice(0, i) + token.slice(i + 1)),
        fc.integer({ min: 1, max: token.length - 1 }).map((i) => token.slice(0, i)),
        fc.string({ minLength: 1, maxLength: 4 }).map((s) => token + s),
      );

    it('answers an empty token (another route) with 404 in the error shape, never a redirect', async () => {
      const res = await request(base).get('/t/c/').redirects(0);
      expectSane(res);
      expect(res.headers.location).toBeUndefined();
      expect(res.status).toBe(404);
    });

    it('never redirects for an arbitrary or tampered token: 400 in the error shape', async () => {
      const genuine = links.clickUrl(target.id, 'https://shop.example/sale?a=1&b=2')!;
      const token = genuine.split('/').pop()!;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(pathSegment(), mutatedToken(token).map(encodeURIComponent)),
          async (seg) => {
            const res = await request(base).get(`/t/c/${seg}`).redirects(0);
            expectSane(res);
            expect(res.headers.location).toBeUndefined();
            expect(res.status).toBe(400);
            expect(res.body.error.code).toBe('validation_error');
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('redirects a genuine token to exactly the URL the browser would have opened', async () => {
      const url = fc.oneof(
        fc.webUrl({ withQueryParameters: true, withFragments: true }),
        fc
          .tuple(
            fc.constantFrom(
              'https://shop.example/',
              'HTTP://Shop.Example:8080/a/../b?',
              'https://xn--bcher-kva.example/',
            ),
            fc.string({ unit: 'binary', maxLength: 30 }),
          )
          .map(([prefix, tail]) => prefix + tail)
          .filter((u) => isTrackableHttpUrl(u)),
        fc.constantFrom(
          'https://shop.example/50%off?q={x}&r=`y`|z^',
          'https://shop.example/p?q=%zz&x=%2',
          "https://shop.example/it's?name=o'neil#frag ment",
          'https://shop.example/\u00e9t\u00e9?\u00fc=\u00df#\u00e0',
          'https://user:pa%40ss@shop.example/',
          'https://shop.example/a\\b',
        ),
      );
      await fc.assert(
        fc.asyncProperty(url, async (u) => {
          const tracked = links.clickUrl(target.id, u);
          if (tracked === null) return; // too long to sign: left untracked by the rewriter
          const res = await request(base).get(new URL(tracked).pathname).redirects(0);
          expect(res.status).toBe(302);
          expect(new URL(res.headers.location).href).toBe(new URL(u).href);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('/unsubscribe/:token', () => {
    it('answers 400 for any bad token, on GET and on any POST body', async () => {
      await fc.assert(
        fc.asyncProperty(fc.boolean(), pathSegment(), malformedBody(), async (get, seg, body) => {
          let req = get
            ? request(base).get(`/unsubscribe/${seg}`)
            : request(base).post(`/unsubscribe/${seg}`);
          if (!get) {
            if (body.contentType) req = req.set('Content-Type', body.contentType);
            req = req.send(body.body);
          }
          const res = await req;
          expectSane(res);
          // A body in a charset the parser does not know is refused as such before the token
          // is looked at: 415 (RFC 9110 §15.5.16, README "API overview"); anything else is 400.
          const charset = /^application\/json; charset=([a-z0-9-]+)$/i.exec(
            body.contentType ?? '',
          )?.[1];
          const undecodable = !get && charset !== undefined && !iconv.encodingExists(charset);
          expect(res.status).toBe(undecodable ? 415 : 400);
        }),
        { numRuns: RUNS },
      );
    });

    it('shows and confirms a genuine token for any deliverable address, markup escaped', async () => {
      // Addresses that validator's isEmail takes, with the characters HTML cares about.
      const local = fc.stringMatching(/^[a-z0-9&'+=_`{}~!#$%^*?-]{1,20}$/);
      await fc.assert(
        fc.asyncProperty(local, fc.boolean(), async (name, oneClick) => {
          const email = `${name}-${randomUUID().slice(0, 6)}@fuzz.example`;
          const res = await request(base)
            .post('/api/v1/send')
            .set('Authorization', `Bearer ${key}`)
            .send({ to: email, subject: 's', text: 't' });
          if (res.status !== 202) return; // not an address the API takes
          const token = links.unsubscribeUrl(res.body.message_id).split('/').pop()!;
          const page = await request(base).get(`/unsubscribe/${token}`);
          expect(page.status).toBe(200);
          // The address is text in the page: it adds no element and reads back exactly.
          const strong = elements(page.text).filter((e) => e.tagName === 'strong');
          expect(strong).toHaveLength(1);
          expect(textContent(page.text)).toContain(email);
          const post = request(base).post(`/unsubscribe/${token}`).type('form');
          const done = await (oneClick ? post.send('List-Unsubscribe=One-Click') : post.send(''));
          expect(done.status).toBe(200);
          const check = await request(base)
            .get(`/api/v1/blacklist/check?email=${encodeURIComponent(email)}`)
            .set('Authorization', `Bearer ${key}`);
          expect(check.body.blocked).toBe(true);
        }),
        { numRuns: 15 },
      );
    });
  });

  describe('POST /api/v1/webhook', () => {
    /** A Postal-style envelope whose every part may be hostile, aimed at the real message now and then. */
    const envelope = fc
      .record({
        event: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...POSTAL_EVENTS).map((e) => JSON.stringify(e)) },
          { weight: 1, arbitrary: hostileJson(1) },
        ),
        uuid: fc.oneof(
          { weight: 6, arbitrary: fc.uuid().map((u) => JSON.stringify(u)) },
          { weight: 1, arbitrary: hostileJson(1) },
        ),
        timestamp: fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
          hostileJson(1),
        ),
        message: fc.oneof(
          fc
            .record({
              id: fc.oneof(fc.constant(null), fc.nat().map(String), hostileJson(1)),
              token: fc.oneof(fc.constant(null), hostileStringJson()),
              message_id: fc.oneof(fc.constant(null), hostileStringJson()),
              real: fc.boolean(),
            })
            .map(({ id, token, message_id, real }) =>
              real
                ? null
                : `{${[
                    id && `"id":${id}`,
                    token && `"token":${token}`,
                    message_id && `"message_id":${message_id}`,
                  ]
                    .filter(Boolean)
                    .join(',')}}`,
            ),
          hostileJson(2),
        ),
        fields: fc.array(
          fc.tuple(
            fc.constantFrom(
              'status',
              'details',
              'output',
              'sent_with_ssl',
              'time',
              'url',
              'ip_address',
              'user_agent',
              'bounce',
              'bounce_text',
              'server',
              'domain',
              'volume',
              'limit',
              '__proto__',
              'constructor',
            ),
            fc.oneof(hostileJson(2), hostileObjectJson()),
          ),
          { maxLength: 5 },
        ),
      })
      .map(({ event, uuid, timestamp, message, fields }) => {
        const real = `{"id":${JSON.stringify(target.providerId)},"token":${JSON.stringify(target.token)},"message_id":${JSON.stringify(target.postalMessageId)}}`;
        const msg = message ?? real;
        const payloadFields = [
          `"message":${msg}`,
          `"original_message":${msg}`,
          ...fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`),
        ];
        return railsEscape(
          `{"event":${event},"timestamp":${timestamp},"payload":{${payloadFields.join(',')}},"uuid":${uuid}}`,
        );
      });

    /** Every stored event gets processed: none may crash its job. */
    const stored: string[] = [];

    /** Sends the exact bytes: as JSON text when they are UTF-8, else as an opaque body. */
    const post = (body: Buffer, headers: Record<string, string>) => {
      const req = request(base).post('/api/v1/webhook').set(headers);
      const text = body.toString('utf8');
      return Buffer.from(text, 'utf8').equals(body)
        ? req.set('Content-Type', 'application/json').send(text)
        : req.set('Content-Type', 'application/octet-stream').send(body);
    };

    it('stores a correctly signed envelope (RSA or HMAC) or answers 400, never a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 5, arbitrary: envelope }, { weight: 1, arbitrary: hostileJson(3) }),
          fc.constantFrom('rsa-sha256', 'rsa-sha1', 'hmac'),
          async (json, method) => {
            const body = Buffer.from(json, 'utf8');
            const signed = signPostalWebhook(body, privateKey);
            const headers: Record<string, string> =
              method === 'rsa-sha256'
                ? { 'X-Postal-Signature-256': signed['X-Postal-Signature-256'] }
                : method === 'rsa-sha1'
                  ? { 'X-Postal-Signature': signed['X-Postal-Signature'] }
                  : {
                      'X-Postal-Signature': createHmac('sha256', HMAC_KEY)
                        .update(body)
                        .digest('hex'),
                    };
            const res = await post(body, headers);
            expectApiAnswer(res);
            expect([200, 400]).toContain(res.status);
            if (res.status !== 200) return;
            // Stored as sent, but for what jsonb cannot hold (U+0000 and lone surrogates: U+FFFD).
            const uuid = toStorableString((JSON.parse(json) as { uuid: string }).uuid);
            const rows = await t.dataSource.query('SELECT id FROM webhook_events WHERE uuid = $1', [
              uuid,
            ]);
            expect(rows).toHaveLength(1);
            stored.push(String(rows[0].id));
          },
        ),
        {
          numRuns: 60,
          // Values that break String(): keys that shadow toString/valueOf with non-functions.
          examples: [
            [
              `{"event":"SendLimitExceeded","timestamp":1,"uuid":"${randomUUID()}","payload":{"volume":{"toString":1},"limit":{"valueOf":{}},"server":{"name":{"toString":"x"}}}}`,
              'rsa-sha256',
            ],
            [
              `{"event":"MessageSent","timestamp":1,"uuid":"${randomUUID()}","payload":{"message":{"id":{"toString":1,"valueOf":2},"token":["x"]}}}`,
              'hmac',
            ],
            [
              `{"event":"MessageBounced","timestamp":1,"uuid":"${randomUUID()}","payload":{"original_message":{"id":${JSON.stringify(target.providerId)}},"bounce":{"id":{"toString":1}}}}`,
              'rsa-sha256',
            ],
            [
              `{"event":"DomainDNSError","timestamp":1,"uuid":"${randomUUID()}","payload":{"domain":{"name":{"toString":1},"spf_status":{"valueOf":1}}}}`,
              'rsa-sha1',
            ],
          ],
        },
      );
      expect(stored.length).toBeGreaterThan(0);
    });

    it('refuses with 401 a signed envelope changed by any single byte', async () => {
      await fc.assert(
        fc.asyncProperty(
          envelope,
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          async (json, at, xor) => {
            const body = Buffer.from(json, 'utf8');
            const headers = signPostalWebhook(body, privateKey);
            const tampered = Buffer.from(body);
            tampered[at % tampered.length] ^= xor;
            const res = await post(tampered, headers);
            expectApiAnswer(res);
            expect(res.status).toBe(401);
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('answers 401 for arbitrary signature headers and bodies', async () => {
      const headerValue = fc
        .oneof(
          fc.string({ unit: 'binary-ascii', maxLength: 400 }),
          fc.base64String({ maxLength: 400 }),
          fc.stringMatching(/^[0-9a-f]{64}$/),
        )
        .filter((v) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v));
      const headers = fc.dictionary(
        fc.constantFrom('X-Postal-Signature', 'X-Postal-Signature-256', 'X-Postal-Signature-KID'),
        headerValue,
      );
      await fc.assert(
        fc.asyncProperty(malformedBody(), headers, async (raw, h) => {
          let req = request(base).post('/api/v1/webhook').set(h);
          if (raw.contentType) req = req.set('Content-Type', raw.contentType);
          const res = await req.send(raw.body);
          expectApiAnswer(res);
          expect([400, 401]).toContain(res.status);
        }),
        { numRuns: RUNS },
      );
    });

    it('processes every stored envelope without a failed job', async () => {
      expect(stored.length).toBeGreaterThan(0);
      // Unmatched events are looked at again twice, two seconds apart, before being closed.
      const unprocessed = await waitFor(
        async () => {
          const rows: Array<{ n: number }> = await t.dataSource.query(
            'SELECT count(*)::int AS n FROM webhook_events WHERE id = ANY($1::bigint[]) AND processed_at IS NULL',
            [stored],
          );
          return rows[0].n === 0 ? 'done' : null;
        },
        'every fuzzed webhook processed',
        40_000,
        200,
      ).catch(async (err: Error) => {
        const left = await t.dataSource.query(
          'SELECT id, event, payload FROM webhook_events WHERE id = ANY($1::bigint[]) AND processed_at IS NULL LIMIT 3',
          [stored],
        );
        throw new Error(`${err.message}; unprocessed: ${JSON.stringify(left).slice(0, 2000)}`);
      });
      expect(unprocessed).toBe('done');
      const errors: Array<{ error: string | null }> = await t.dataSource.query(
        'SELECT DISTINCT error FROM webhook_events WHERE id = ANY($1::bigint[])',
        [stored],
      );
      for (const { error } of errors) {
        expect([null, 'unknown_message', 'unsupported_event']).toContain(error);
      }
    });
  });

  describe('POST /api/v1/inbound/postal', () => {
    const path = `/api/v1/inbound/postal/${INBOUND_SECRET}`;

    it('answers 200 or 400 for any JSON, and 401 without the secret or a signature', async () => {
      await fc.assert(
        fc.asyncProperty(hostileJson(3), fc.boolean(), async (json, withSecret) => {
          const res = await request(base)
            .post(withSecret ? path : '/api/v1/inbound/postal')
            .set('Content-Type', 'application/json')
            .send(json);
          expectApiAnswer(res);
          expect(withSecret ? [200, 400] : [401]).toContain(res.status);
        }),
        { numRuns: RUNS },
      );
    });

    it('answers 200 or 400 for reports with hostile fields, raw and base64', async () => {
      const field = fc.oneof(
        hostileString(30),
        fc.constantFrom(target.id, target.postalMessageId.replace(/[<>]/g, '')),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            emailId: fc.oneof(fc.constant(target.id), fc.uuid(), field),
            messageId: field,
            recipient: fc.oneof(fc.constant('x@fuzz.example'), field),
            feedbackType: field,
            userAgent: field,
            mailFrom: field,
            arrivalDate: field,
            reportedDomain: field,
            sourceIp: field,
            original: fc.constantFrom('message' as const, 'headers' as const, 'none' as const),
            encoding: fc.constantFrom('7bit' as const, 'base64' as const),
          }),
          fc.boolean(),
          async (opts, asBase64) => {
            const raw = buildArfReport(opts);
            const body = asBase64 ? postalRawPayload(raw) : { message: raw, base64: false };
            const res = await request(base)
              .post(path)
              .set('Content-Type', 'application/json')
              .send(body);
            expectApiAnswer(res);
            expect([200, 400]).toContain(res.status);
          },
        ),
        { numRuns: RUNS },
      );
    });
  });

  describe('a sent message', () => {
    type Piece =
      | { kind: 'text'; text: string }
      | { kind: 'var'; value: string }
      | { kind: 'link'; url: string; label: string; quote: '"' | "'" };

    const piece: fc.Arbitrary<Piece> = fc.oneof(
      fc.record({ kind: fc.constant('text' as const), text: hostileString(15) }),
      fc.record({ kind: fc.constant('var' as const), value: hostileString(20) }),
      fc.record({
        kind: fc.constant('link' as const),
        url: fc.oneof(
          fc.webUrl({ withQueryParameters: true, withFragments: true }),
          fc.constantFrom(
            'https://shop.example/50%off?q={x}',
            "https://shop.example/o'neil?a=1&b=<2>",
            'mailto:a@b.example',
            '#top',
          ),
        ),
        label: hostileString(8),
        quote: fc.constantFrom('"' as const, "'" as const),
      }),
    );

    it('keeps every link target, the text and the variables, with one open pixel', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), async (pieces) => {
          const variables: Record<string, string> = {};
          const source = pieces
            .map((p, i) => {
              if (p.kind === 'text') return escapeHtml(p.text).replace(/[{}]/g, '');
              if (p.kind === 'var') {
                variables[`v${i}`] = p.value;
                return `{{v${i}}}`;
              }
              return `<a href=${p.quote}${escapeHtml(p.url)}${p.quote}>${escapeHtml(p.label).replace(/[{}]/g, '')}</a>`;
            })
            .join('');
          // The same document with the variables written in by hand: what the reader must see.
          const expected = pieces
            .map((p, i) => (p.kind === 'var' ? escapeHtml(variables[`v${i}`]) : ''))
            .reduce((html, value, i) => html.replace(`{{v${i}}}`, () => value), source);
          const res = await request(base)
            .post('/api/v1/send')
            .set('Authorization', `Bearer ${key}`)
            .send({
              to: `links-${randomUUID().slice(0, 8)}@fuzz.example`,
              subject: 'links',
              html: `<html><body>${source}</body></html>`,
              variables,
              track_opens: true,
              track_clicks: true,
              unsubscribe: false,
            });
          expectApiAnswer(res);
          if (res.status !== 202) return; // e.g. a NUL in a variable: refused, nothing stored
          const id = res.body.message_id as string;
          const html: string = await waitFor(async () => {
            const rows = await t.dataSource.query(
              `SELECT status_details->'sandbox'->>'html' AS html FROM email_logs WHERE external_message_id = $1`,
              [id],
            );
            return rows[0]?.html as string | undefined;
          }, `message ${id} sent`).then((h) => h!);

          expect(textContent(html)).toBe(textContent(`<html><body>${expected}</body></html>`));
          const before = elements(`<html><body>${expected}</body></html>`);
          const after = elements(html);
          const pixels = after.filter(
            (e) =>
              e.tagName === 'img' &&
              /\/t\/o\//.test(e.attrs.find((a) => a.name === 'src')?.value ?? ''),
          );
          expect(pixels).toHaveLength(1);
          expect(after.filter((e) => e !== pixels[0]).map((e) => e.tagName)).toEqual(
            before.map((e) => e.tagName),
          );

          const hrefs = (els: Element[]) =>
            els
              .filter((e) => e.tagName === 'a')
              .map((e) => e.attrs.find((a) => a.name === 'href')!.value);
          const original = hrefs(before);
          const rewritten = hrefs(after);
          expect(rewritten).toHaveLength(original.length);
          for (const [i, href] of rewritten.entries()) {
            if (!/^https?:\/\//i.test(original[i])) {
              expect(href).toBe(original[i]);
              continue;
            }
            const token = new URL(href).pathname.split('/').pop()!;
            expect(links.verify(token, 'click')).toEqual({
              kind: 'click',
              messageId: id,
              url: original[i],
            });
            const click = await request(base).get(new URL(href).pathname).redirects(0);
            expect(click.status).toBe(302);
            expect(new URL(click.headers.location).href).toBe(new URL(original[i]).href);
          }
        }),
        { numRuns: 15 },
      );
    });
  });
});
