import fc from 'fast-check';
import { findUnstorableText } from 'src/common/text/storable-text';
import {
  ArfComplaint,
  ArfParseError,
  parseArf,
  parseInboundPostalPayload,
} from 'src/modules/emails/lifecycle/postal/arf-parser';
import {
  ArfReportOptions,
  buildArfReport,
  buildJmrpMessage,
  postalHashPayload,
  postalRawPayload,
} from 'test/fakes/arf-message';

/**
 * Properties of the ARF (RFC 5965) parser behind /api/v1/inbound/postal: a report built from
 * arbitrary field values reads back to those values in every encoding and every Postal payload
 * format; a damaged report fails only with ArfParseError, names no id it does not contain, and
 * yields only text PostgreSQL can store.
 */

// Shrinking a failure re-parses many messages: give it room.
jest.setTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A header value of single-spaced words (folding splits at spaces). */
const words = (max: number) =>
  fc
    .array(
      fc
        .string({
          unit: fc.oneof(
            fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
            fc.constantFrom('é', 'ü', '中', '😀'),
          ),
          minLength: 1,
          maxLength: 12,
        })
        .filter((w) => !/\s/.test(w)),
      { minLength: 1, maxLength: max },
    )
    .map((ws) => ws.join(' '));

/** What fast-check's emailAddress gives, within the 320 characters the parser keeps. */
const address = fc.emailAddress().filter((a) => a.length <= 320);

const reportFields = fc.record({
  emailId: fc.uuid().chain((u) => fc.mixedCase(fc.constant(u))),
  messageId: fc
    .tuple(fc.stringMatching(/^[A-Za-z0-9._%+-]{1,30}$/), fc.domain())
    .map(([local, domain]) => `${local}@${domain}`),
  recipient: address,
  mailFrom: address,
  feedbackType: fc
    .stringMatching(/^[a-z0-9][a-z0-9._-]{0,40}$/)
    .chain((t) => fc.mixedCase(fc.constant(t))),
  userAgent: words(6),
  arrivalDate: fc
    .date({
      min: new Date('1990-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
  reportedDomain: fc.domain(),
  sourceIp: fc.oneof(fc.ipV4(), fc.ipV6()),
  original: fc.constantFrom('message' as const, 'headers' as const, 'none' as const),
  encoding: fc.constantFrom('7bit' as const, 'base64' as const),
  foldFields: fc.boolean(),
  foldHeaders: fc.boolean(),
});
type Fields = typeof reportFields extends fc.Arbitrary<infer T> ? T : never;

const options = (f: Fields): ArfReportOptions => ({
  ...f,
  arrivalDate: f.arrivalDate.toUTCString(),
});

/** At most 255 UTF-16 units, and never half of a surrogate pair. */
function capped(text: string): string {
  const cut = text.slice(0, 255);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function expected(f: Fields, withOriginal: boolean): ArfComplaint {
  return {
    feedbackType: f.feedbackType.toLowerCase(),
    userAgent: capped(f.userAgent),
    originalRecipient: f.recipient,
    originalMailFrom: f.mailFrom,
    arrivalDate: f.arrivalDate,
    reportedDomain: f.reportedDomain.toLowerCase(),
    sourceIp: f.sourceIp,
    emailId: withOriginal ? f.emailId.toLowerCase() : null,
    postalMessageId: withOriginal ? f.messageId : null,
  };
}

/** parseArf, with ArfParseError turned into null and anything else thrown on. */
async function parsed(run: () => Promise<ArfComplaint>): Promise<ArfComplaint | null> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ArfParseError) return null;
    throw err;
  }
}

describe('ARF parser (fuzz)', () => {
  it('reads back every field of a generated report, raw and as Postal posts it', async () => {
    await fc.assert(
      fc.asyncProperty(
        reportFields,
        fc.constantFrom('string', 'buffer', 'postal-raw', 'postal-plain', 'postal-hash'),
        async (f, transport) => {
          const raw = buildArfReport(options(f));
          let result: ArfComplaint;
          if (transport === 'string') result = await parseArf(raw);
          else if (transport === 'buffer') result = await parseArf(Buffer.from(raw, 'utf8'));
          else if (transport === 'postal-raw')
            result = await parseInboundPostalPayload(postalRawPayload(raw));
          else if (transport === 'postal-plain')
            result = await parseInboundPostalPayload({ message: raw, base64: false });
          else
            result = await parseInboundPostalPayload(
              postalHashPayload({ ...options(f), namedReport: true }),
            );
          // Postal's hash format drops a headers-only original (its mail gem keeps no such part).
          const withOriginal =
            f.original === 'message' || (f.original === 'headers' && transport !== 'postal-hash');
          expect(result).toEqual(expected(f, withOriginal));
          expect(findUnstorableText(result)).toBeNull();
        },
      ),
      {
        numRuns: 100,
        // Found by the inbound e2e fuzz: a 255-unit cut through an emoji left half of it.
        examples: [
          [
            {
              emailId: '1688a73a-077d-49c4-b71c-b557cd25c8ce',
              messageId: 'm@rp.example',
              recipient: 'a@b.example',
              mailFrom: 'c@d.example',
              feedbackType: 'abuse',
              userAgent: 'xx' + '\ud83d\ude00'.repeat(200),
              arrivalDate: new Date('2025-01-22T10:11:12Z'),
              reportedDomain: 'd.example',
              sourceIp: '192.0.2.1',
              original: 'message',
              encoding: '7bit',
              foldFields: false,
              foldHeaders: false,
            },
            'string',
          ],
        ],
      },
    );
  });

  it('reads the id and recipient of a generated JMRP-style complaint', async () => {
    await fc.assert(
      fc.asyncProperty(reportFields, async (f) => {
        const result = await parseArf(buildJmrpMessage({ ...options(f) }));
        expect(result).toEqual(
          expect.objectContaining({
            feedbackType: 'abuse',
            emailId: f.emailId.toLowerCase(),
            postalMessageId: f.messageId,
            originalRecipient: f.recipient,
          }),
        );
      }),
      { numRuns: 40 },
    );
  });

  describe('damaged reports', () => {
    type Damage =
      | { op: 'flip'; at: number; xor: number }
      | { op: 'nul'; at: number }
      | { op: 'drop-line' | 'repeat-line'; at: number }
      | { op: 'swap-lines'; at: number; other: number }
      | { op: 'truncate'; at: number }
      | { op: 'bare-lf' | 'bare-cr' };

    const damage: fc.Arbitrary<Damage> = fc.oneof(
      fc.record({
        op: fc.constant('flip' as const),
        at: fc.nat(),
        xor: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({ op: fc.constant('nul' as const), at: fc.nat() }),
      fc.record({
        op: fc.constantFrom('drop-line' as const, 'repeat-line' as const),
        at: fc.nat(),
      }),
      fc.record({ op: fc.constant('swap-lines' as const), at: fc.nat(), other: fc.nat() }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constantFrom('bare-lf' as const, 'bare-cr' as const) }),
    );

    /** One damage to the message's bytes (given as latin1 text, so every byte survives). */
    function apply(raw: string, d: Damage): Buffer {
      const bytes = Buffer.from(raw, 'latin1');
      const lines = raw.split('\r\n');
      switch (d.op) {
        case 'flip': {
          const copy = Buffer.from(bytes);
          copy[d.at % copy.length] ^= d.xor;
          return copy;
        }
        case 'nul': {
          const at = d.at % bytes.length;
          return Buffer.concat([bytes.subarray(0, at), Buffer.from([0]), bytes.subarray(at)]);
        }
        case 'drop-line':
          lines.splice(d.at % lines.length, 1);
          return Buffer.from(lines.join('\r\n'), 'latin1');
        case 'repeat-line': {
          const at = d.at % lines.length;
          lines.splice(at, 0, lines[at]);
          return Buffer.from(lines.join('\r\n'), 'latin1');
        }
        case 'swap-lines': {
          const [a, b] = [d.at % lines.length, d.other % lines.length];
          [lines[a], lines[b]] = [lines[b], lines[a]];
          return Buffer.from(lines.join('\r\n'), 'latin1');
        }
        case 'truncate':
          return bytes.subarray(0, d.at % bytes.length);
        case 'bare-lf':
          return Buffer.from(raw.replace(/\r\n/g, '\n'), 'latin1');
        case 'bare-cr':
          return Buffer.from(raw.replace(/\r\n/g, '\r'), 'latin1');
      }
    }

    it('fail only with ArfParseError, name only ids they contain, and give storable text', async () => {
      await fc.assert(
        fc.asyncProperty(
          reportFields,
          fc.array(damage, { minLength: 1, maxLength: 3 }),
          fc.boolean(),
          async (f, damages, viaPostal) => {
            const raw = damages.reduce<Buffer>(
              (bytes, d) => apply(bytes.toString('latin1'), d),
              Buffer.from(buildArfReport(options(f)), 'utf8'),
            );
            const result = await parsed(() =>
              viaPostal
                ? parseInboundPostalPayload({ message: raw.toString('base64'), base64: true })
                : parseArf(raw),
            );
            if (result === null) return;
            expect(findUnstorableText(result)).toBeNull();
            if (result.emailId !== null && result.emailId !== f.emailId.toLowerCase()) {
              // Damage can turn one hex digit into another: then that id is in the text.
              expect(result.emailId).toMatch(UUID);
              if (f.encoding === '7bit')
                expect(raw.toString('latin1').toLowerCase()).toContain(result.emailId);
            }
          },
        ),
        { numRuns: 120 },
      );
    });

    it('fail only with ArfParseError when cut off inside a part header', async () => {
      // Found by the property above: a part whose Content-Type header had no value made the
      // parser throw a TypeError (a 500 at /api/v1/inbound/postal) instead of ArfParseError.
      for (const original of ['message', 'headers'] as const) {
        const raw = buildArfReport({
          emailId: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
          messageId: 'm@rp.example',
          recipient: 'a@isp.example',
          original,
        });
        const boundary = /boundary="([^"]+)"/.exec(raw)![1];
        // Every part header of the report, cut right after its name (mailparser then gives
        // the part a contentType of false).
        for (
          let at = raw.indexOf(`--${boundary}\r\n`);
          at >= 0;
          at = raw.indexOf(`--${boundary}\r\n`, at + 1)
        ) {
          const cut = raw.slice(0, at) + `--${boundary}\r\nContent-Type: `;
          await expect(parsed(() => parseArf(cut))).resolves.not.toThrow();
        }
      }
    });

    it('fail only with ArfParseError for Postal hash payloads with damaged or retyped parts', async () => {
      const retype = fc.oneof(
        fc.constant(undefined),
        fc.constantFrom(
          null,
          42,
          true,
          [],
          {},
          '',
          '!!!not base64!!!',
          'AAAA\u0000',
          JSON.parse('{"__proto__":1}'),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          reportFields,
          fc.constantFrom(
            'attachments',
            'plain_body',
            'html_body',
            'data',
            'content_type',
            'filename',
          ),
          retype,
          async (f, field, value) => {
            const payload = postalHashPayload({ ...options(f), namedReport: true }) as Record<
              string,
              unknown
            >;
            const attachments = payload.attachments as Array<Record<string, unknown>>;
            if (['data', 'content_type', 'filename'].includes(field)) {
              if (attachments.length) attachments[0][field] = value;
            } else {
              payload[field] = value;
            }
            const result = await parsed(() => parseInboundPostalPayload(payload));
            if (result !== null) expect(findUnstorableText(result)).toBeNull();
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
