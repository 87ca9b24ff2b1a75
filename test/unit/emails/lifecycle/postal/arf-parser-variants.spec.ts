import { randomUUID } from 'node:crypto';
import {
  parseArf,
  parseArfReports,
  parseInboundPostalReports,
} from 'src/modules/emails/lifecycle/postal/arf-parser';
import { buildArfReport, buildReportDigest, postalRawPayload } from 'test/fakes/arf-message';

/**
 * Report shapes met in the wild beyond the RFC 5965 example: the original's headers typed
 * `text/rfc822-header` (singular), CR-only line endings, several reports in one message, RFC
 * 6591 authentication-failure reports and Postal's own id (`X-Postal-MsgID`) on the original.
 */

function ids() {
  return {
    emailId: randomUUID(),
    messageId: `${randomUUID()}@rp.sender.example`,
    recipient: `reader-${randomUUID().slice(0, 8)}@isp.example`,
  };
}

describe('ARF parser: report variants', () => {
  it.each(['text/rfc822-headers', 'text/rfc822-header', 'TEXT/RFC822-HEADER'])(
    'reads the original headers from a %s part',
    async (headersType) => {
      const o = ids();
      const raw = buildArfReport({ ...o, original: 'headers', headersType });
      expect(raw).toContain(`Content-Type: ${headersType}`);
      await expect(parseArf(raw)).resolves.toMatchObject({
        emailId: o.emailId,
        postalMessageId: o.messageId,
        originalRecipient: o.recipient,
      });

      // Without an X-Email-Id line to find in free text, only the part's type says it is
      // the original: its Message-ID and Postal token must still be read.
      const bare = buildArfReport({
        ...o,
        emailId: null,
        postalToken: 'Zx9Yw8Vu7Ts6Rq5P',
        original: 'headers',
        headersType,
      });
      await expect(parseArf(bare)).resolves.toMatchObject({
        emailId: null,
        postalMessageId: o.messageId,
        postalToken: 'Zx9Yw8Vu7Ts6Rq5P',
      });
    },
  );

  it.each([
    ['CR-only', '\r'],
    ['LF-only', '\n'],
  ])('reads a report with %s line endings, raw and as Postal posts it', async (_name, eol) => {
    const o = ids();
    const raw = buildArfReport({ ...o, feedbackType: 'fraud', userAgent: 'Old MTA/1.0' }).replace(
      /\r\n/g,
      eol,
    );
    const expected = {
      feedbackType: 'fraud',
      userAgent: 'Old MTA/1.0',
      emailId: o.emailId,
      postalMessageId: o.messageId,
      originalRecipient: o.recipient,
    };
    await expect(parseArf(raw)).resolves.toMatchObject(expected);
    await expect(parseArf(Buffer.from(raw, 'utf8'))).resolves.toMatchObject(expected);
    await expect(parseInboundPostalReports(postalRawPayload(raw))).resolves.toEqual([
      expect.objectContaining(expected),
    ]);
  });

  it('reads every report of a message that carries several, in order', async () => {
    const a = ids();
    const b = ids();
    const c = ids();
    const raw = buildReportDigest([
      buildArfReport({ ...a, feedbackType: 'abuse' }),
      buildArfReport({ ...b, feedbackType: 'opt-out', original: 'headers' }),
      buildArfReport({ ...c, feedbackType: 'not-spam', encoding: 'base64' }),
    ]);

    const reports = await parseArfReports(raw);
    expect(reports.map((r) => [r.feedbackType, r.emailId, r.originalRecipient])).toEqual([
      ['abuse', a.emailId, a.recipient],
      ['opt-out', b.emailId, b.recipient],
      ['not-spam', c.emailId, c.recipient],
    ]);
    await expect(parseInboundPostalReports(postalRawPayload(raw))).resolves.toHaveLength(3);
  });

  it('pairs several feedback-report parts of one multipart/report with their originals', async () => {
    const a = ids();
    const b = ids();
    const first = buildArfReport({ ...a });
    const second = buildArfReport({ ...b, feedbackType: 'virus' });
    const boundary = /boundary="([^"]+)"/.exec(first)![1];
    const partsOf = (raw: string) => {
      const bnd = /boundary="([^"]+)"/.exec(raw)![1];
      return raw.split(`--${bnd}`).slice(2, 4);
    };
    // One multipart/report with report A, original A, report B, original B.
    const [head] = first.split(`--${boundary}`);
    const raw = [
      head.trimEnd(),
      '',
      ...[...partsOf(first), ...partsOf(second)].map((p) => `--${boundary}${p.trimEnd()}\r\n`),
      `--${boundary}--`,
      '',
    ].join('\r\n');

    const reports = await parseArfReports(raw);
    expect(reports.map((r) => [r.feedbackType, r.emailId, r.originalRecipient])).toEqual([
      ['abuse', a.emailId, a.recipient],
      ['virus', b.emailId, b.recipient],
    ]);
  });

  it('reads the RFC 6591 authentication-failure fields', async () => {
    const o = ids();
    const raw = buildArfReport({
      ...o,
      feedbackType: 'auth-failure',
      reportFields: [
        'Auth-Failure: dkim',
        'Authentication-Results: mx.isp.example; dkim=fail header.d=sender.example',
        'DKIM-Domain: sender.example',
        'DKIM-Identity: @sender.example',
        'DKIM-Selector: postal-AbC123',
        'Delivery-Result: reject',
      ],
    });

    await expect(parseArf(raw)).resolves.toMatchObject({
      feedbackType: 'auth-failure',
      emailId: o.emailId,
      authFailure: {
        authFailure: 'dkim',
        authenticationResults: 'mx.isp.example; dkim=fail header.d=sender.example',
        dkimDomain: 'sender.example',
        dkimIdentity: '@sender.example',
        dkimSelector: 'postal-AbC123',
        spfDns: null,
        deliveryResult: 'reject',
        identityAlignment: null,
      },
    });
  });

  it("reads Postal's own id (X-Postal-MsgID) from the original", async () => {
    const o = ids();
    const raw = buildArfReport({
      ...o,
      emailId: null,
      messageId: null,
      postalToken: 'aB3dE5fG7hJ9kL1m',
    });
    await expect(parseArf(raw)).resolves.toMatchObject({
      emailId: null,
      postalMessageId: null,
      postalToken: 'aB3dE5fG7hJ9kL1m',
    });
  });
});
