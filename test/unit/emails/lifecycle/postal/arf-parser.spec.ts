import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  ARF_MAX_BYTES,
  ArfParseError,
  parseArf,
  parseInboundPostalPayload,
} from 'src/modules/emails/lifecycle/postal/arf-parser';
import {
  buildArfReport,
  buildJmrpMessage,
  buildOriginalMessage,
  postalHashPayload,
  postalRawPayload,
} from 'test/fakes/arf-message';

const CRLF = '\r\n';

/** RFC 5965 Appendix B.2 (a report with the whole original), plus our X-Email-Id header. */
const RFC5965_EXAMPLE = [
  'From: <abusedesk@example.com>',
  'Date: Thu, 8 Mar 2005 17:40:36 EDT',
  'Subject: FW: Earn money',
  'To: <abuse@example.net>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=feedback-report;',
  '     boundary="part1_13d.2e68ed54_boundary"',
  '',
  '--part1_13d.2e68ed54_boundary',
  'Content-Type: text/plain; charset="US-ASCII"',
  'Content-Transfer-Encoding: 7bit',
  '',
  'This is an email abuse report for an email message received from IP',
  '192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.  For more information',
  'about this format please see http://www.mipassoc.org/arf/.',
  '',
  '--part1_13d.2e68ed54_boundary',
  'Content-Type: message/feedback-report',
  '',
  'Feedback-Type: abuse',
  'User-Agent: SomeGenerator/1.0',
  'Version: 1',
  'Original-Mail-From: <somespammer@example.net>',
  'Original-Rcpt-To: <user@example.com>',
  'Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT',
  'Reporting-MTA: dns; mail.example.com',
  'Source-IP: 192.0.2.1',
  'Authentication-Results: mail.example.com;',
  '               spf=fail smtp.mail=somespammer@example.com',
  'Reported-Domain: example.net',
  'Reported-Uri: http://example.net/earn_money.html',
  'Reported-Uri: mailto:user@example.com',
  'Removal-Recipient: user@example.com',
  '',
  '--part1_13d.2e68ed54_boundary',
  'Content-Type: message/rfc822',
  'Content-Disposition: inline',
  '',
  'From: <somespammer@example.net>',
  'Received: from mailserver.example.net (mailserver.example.net',
  '        [192.0.2.1]) by example.com with ESMTP id M63d4137594e46;',
  '        Thu, 08 Mar 2005 14:00:00 -0400',
  'To: <Undisclosed Recipients>',
  'Subject: Earn money',
  'X-Email-Id: 6F1B2C3D-4E5F-4a6b-8c7d-9e0f1a2b3c4d',
  'MIME-Version: 1.0',
  'Content-type: text/plain',
  'Message-ID: 8787KJKJ3K4J3K4J3K4J3.mail@example.net',
  'Date: Thu, 02 Sep 2004 12:31:03 -0500',
  '',
  'Spam Spam Spam',
  'Spam Spam Spam',
  'Spam Spam Spam',
  'Spam Spam Spam',
  '--part1_13d.2e68ed54_boundary--',
  '',
].join(CRLF);

function ids() {
  return {
    emailId: randomUUID(),
    messageId: `${randomUUID()}@rp.sender.example`,
    recipient: `reader-${randomUUID().slice(0, 8)}@isp.example`,
  };
}

describe('parseArf', () => {
  it('reads every field of the RFC 5965 Appendix B example', async () => {
    await expect(parseArf(RFC5965_EXAMPLE)).resolves.toEqual({
      feedbackType: 'abuse',
      userAgent: 'SomeGenerator/1.0',
      originalRecipient: 'user@example.com',
      originalMailFrom: 'somespammer@example.net',
      arrivalDate: new Date('2005-03-08T18:00:00.000Z'),
      reportedDomain: 'example.net',
      sourceIp: '192.0.2.1',
      emailId: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      postalMessageId: '8787KJKJ3K4J3K4J3K4J3.mail@example.net',
    });
  });

  it('reads the original from a message/rfc822 part with X-Email-Id and Message-ID', async () => {
    const o = ids();
    const complaint = await parseArf(
      buildArfReport({
        ...o,
        userAgent: 'Yahoo!-Mail-Feedback/2.0',
        mailFrom: 'bounces+abc@rp.sender.example',
        sourceIp: '2001:db8::25',
      }),
    );

    expect(complaint).toEqual({
      feedbackType: 'abuse',
      userAgent: 'Yahoo!-Mail-Feedback/2.0',
      originalRecipient: o.recipient,
      originalMailFrom: 'bounces+abc@rp.sender.example',
      arrivalDate: new Date('2025-01-22T10:11:12.000Z'),
      reportedDomain: 'sender.example',
      sourceIp: '2001:db8::25',
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('accepts a Buffer as well as a string', async () => {
    const o = ids();
    const complaint = await parseArf(Buffer.from(buildArfReport(o)));

    expect(complaint.emailId).toBe(o.emailId);
  });

  it('unfolds folded feedback-report fields and a folded X-Email-Id header', async () => {
    const o = ids();
    const raw = buildArfReport({
      ...o,
      foldFields: true,
      foldHeaders: true,
      userAgent: 'Big ISP Feedback Loop 3.1',
    });
    expect(raw).toContain(`User-Agent:${CRLF}    Big${CRLF}    ISP`);

    const complaint = await parseArf(raw);

    expect(complaint).toMatchObject({
      feedbackType: 'abuse',
      userAgent: 'Big ISP Feedback Loop 3.1',
      originalRecipient: o.recipient,
      arrivalDate: new Date('2025-01-22T10:11:12.000Z'),
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('reads the original headers from a text/rfc822-headers part', async () => {
    const o = ids();
    const raw = buildArfReport({ ...o, original: 'headers' });
    expect(raw).toContain('Content-Type: text/rfc822-headers');

    await expect(parseArf(raw)).resolves.toMatchObject({
      emailId: o.emailId,
      postalMessageId: o.messageId,
      originalRecipient: o.recipient,
    });
  });

  it('decodes base64 report and original parts', async () => {
    const o = ids();
    const raw = buildArfReport({ ...o, encoding: 'base64', feedbackType: 'fraud' });
    expect(raw).not.toContain(o.emailId);

    await expect(parseArf(raw)).resolves.toMatchObject({
      feedbackType: 'fraud',
      sourceIp: '192.0.2.25',
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('lower-cases the feedback type', async () => {
    const complaint = await parseArf(buildArfReport({ ...ids(), feedbackType: 'Not-Spam' }));

    expect(complaint.feedbackType).toBe('not-spam');
  });

  it('calls a report without a Feedback-Type an abuse complaint', async () => {
    const raw = buildArfReport({ ...ids(), omitFields: ['feedback-type'] });

    await expect(parseArf(raw)).resolves.toMatchObject({ feedbackType: 'abuse' });
  });

  it('leaves emailId null and keeps the Message-ID when X-Email-Id is missing', async () => {
    const o = ids();
    const complaint = await parseArf(buildArfReport({ ...o, emailId: null }));

    expect(complaint.emailId).toBeNull();
    expect(complaint.postalMessageId).toBe(o.messageId);
  });

  it('leaves emailId null when X-Email-Id is not a UUID', async () => {
    const o = ids();
    const complaint = await parseArf(buildArfReport({ ...o, emailId: 'not-a-uuid' }));

    expect(complaint.emailId).toBeNull();
    expect(complaint.postalMessageId).toBe(o.messageId);
  });

  it('reads no id out of a longer token that starts like one (header or inline line)', async () => {
    // Found by the mangling property below: one character inserted into the id's last group.
    const o = ids();
    const longer = `${o.emailId.slice(0, 24)}A${o.emailId.slice(24)}`;
    const complaint = await parseArf(buildArfReport({ ...o, emailId: longer }));

    expect(complaint.emailId).toBeNull();
    expect(complaint.postalMessageId).toBe(o.messageId);
    for (const tail of ['0', 'c', '-1', '_x']) {
      expect(
        (await parseArf(buildArfReport({ ...o, emailId: `${o.emailId}${tail}` }))).emailId,
      ).toBeNull();
    }
    expect((await parseArf(buildArfReport({ ...o, emailId: `<${o.emailId}>` }))).emailId).toBe(
      o.emailId,
    );
  });

  it('falls back to Removal-Recipient, then to the To of the original', async () => {
    const o = ids();
    const removal = await parseArf(
      buildArfReport({
        ...o,
        omitFields: ['original-rcpt-to'],
        reportFields: ['Removal-Recipient: removal@isp.example'],
      }),
    );
    const fromOriginal = await parseArf(buildArfReport({ ...o, omitFields: ['original-rcpt-to'] }));

    expect(removal.originalRecipient).toBe('removal@isp.example');
    expect(fromOriginal.originalRecipient).toBe(o.recipient);
  });

  it('turns unreadable optional fields into null', async () => {
    const raw = buildArfReport({
      ...ids(),
      sourceIp: '999.1.1.1',
      arrivalDate: 'sometime last week',
      reportedDomain: 'not a domain!',
      omitFields: ['user-agent', 'original-mail-from'],
    });

    await expect(parseArf(raw)).resolves.toMatchObject({
      sourceIp: null,
      arrivalDate: null,
      reportedDomain: null,
      userAgent: null,
      originalMailFrom: null,
    });
  });

  it('ignores an absurdly long field value and falls back to the original To', async () => {
    const o = ids();
    const raw = buildArfReport({
      ...o,
      omitFields: ['original-rcpt-to'],
      reportFields: [`Removal-Recipient: ${'a'.repeat(2_000_000)}`],
    });

    await expect(parseArf(raw)).resolves.toMatchObject({
      originalRecipient: o.recipient,
      emailId: o.emailId,
    });
  });

  it('accepts a report without the original (nothing to match but the recipient)', async () => {
    const o = ids();

    await expect(parseArf(buildArfReport({ ...o, original: 'none' }))).resolves.toMatchObject({
      feedbackType: 'abuse',
      originalRecipient: o.recipient,
      emailId: null,
      postalMessageId: null,
    });
  });

  it('treats a JMRP-style message with the original attached as an abuse complaint', async () => {
    const o = ids();

    await expect(parseArf(buildJmrpMessage(o))).resolves.toEqual({
      feedbackType: 'abuse',
      userAgent: null,
      originalRecipient: o.recipient,
      originalMailFrom: null,
      arrivalDate: null,
      reportedDomain: null,
      sourceIp: null,
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('takes the JMRP recipient from X-HmXmrOriginalRecipient of a base64 original', async () => {
    const o = ids();
    const raw = buildJmrpMessage({
      ...o,
      recipient: 'list@sender.example',
      headers: [`X-HmXmrOriginalRecipient: <${o.recipient}>`],
      encoding: 'base64',
    });

    await expect(parseArf(raw)).resolves.toMatchObject({
      feedbackType: 'abuse',
      originalRecipient: o.recipient,
      emailId: o.emailId,
    });
  });

  it('finds an original forwarded inline in the text of a non-ARF message', async () => {
    const o = ids();
    const quoted = buildOriginalMessage(o)
      .split(CRLF)
      .map((line) => `> ${line}`)
      .join(CRLF);
    const raw = [
      'From: postmaster@isp.example',
      'To: fbl@sender.example',
      'Subject: Spam complaint',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'A user of ours marked the following message as spam:',
      '',
      quoted,
      '',
    ].join(CRLF);

    await expect(parseArf(raw)).resolves.toMatchObject({
      feedbackType: 'abuse',
      originalRecipient: o.recipient,
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('unwraps a report that was forwarded as an attachment', async () => {
    const o = ids();
    const report = buildArfReport({ ...o, feedbackType: 'virus' });
    const raw = [
      'From: helpdesk@isp.example',
      'To: fbl@sender.example',
      'Subject: Fwd: report',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: text/plain',
      '',
      'See attached.',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      report,
      '--outer--',
      '',
    ].join(CRLF);

    await expect(parseArf(raw)).resolves.toMatchObject({
      feedbackType: 'virus',
      emailId: o.emailId,
    });
  });

  it('rejects a message with neither a report nor a recognisable original', async () => {
    const raw = [
      'From: someone@isp.example',
      'Subject: hi',
      '',
      'Please stop emailing me.',
      '',
    ].join(CRLF);

    await expect(parseArf(raw)).rejects.toThrow(ArfParseError);
  });

  it('rejects a forwarded message/rfc822 with neither X-Email-Id nor Message-ID', async () => {
    const raw = buildJmrpMessage({ ...ids(), emailId: null, messageId: null });

    await expect(parseArf(raw)).rejects.toThrow(ArfParseError);
  });

  it.each([
    ['garbage', '\u0000\u0001 not a message at all \uFFFF'],
    ['an empty string', ''],
    ['whitespace', ' \r\n\r\n\t'],
    ['an empty Buffer', Buffer.alloc(0)],
  ])('rejects %s', async (_label, raw) => {
    await expect(parseArf(raw)).rejects.toThrow(ArfParseError);
  });

  it.each([[null], [undefined], [42], [{}]])('rejects a non-string input %p', async (raw) => {
    await expect(parseArf(raw as unknown as string)).rejects.toThrow(ArfParseError);
  });

  it('rejects a message larger than the cap before parsing it', async () => {
    const raw = buildArfReport(ids()) + 'x'.repeat(ARF_MAX_BYTES);

    await expect(parseArf(raw)).rejects.toThrow(/larger than/);
    await expect(parseArf(Buffer.from(raw))).rejects.toThrow(ArfParseError);
  });

  it('fails only with ArfParseError on arbitrary input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 400 }), async (raw) => {
        await parseArf(raw).catch((err: unknown) => {
          if (!(err instanceof ArfParseError)) throw err;
        });
      }),
      { numRuns: 200 },
    );
  });

  /** Cuts a span of the message and inserts a random string in its place. */
  const mangle = (raw: string) =>
    fc
      .tuple(fc.nat({ max: raw.length }), fc.nat({ max: 200 }), fc.string({ maxLength: 20 }))
      .map(([at, cut, insert]) => raw.slice(0, at) + insert + raw.slice(at + cut));

  it('never reports another id than the original one for a mangled report', async () => {
    const o = ids();
    const raw = buildArfReport(o);
    const idAt = raw.indexOf(o.emailId!);
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.nat({ max: raw.length }), fc.nat({ max: 200 }), fc.string({ maxLength: 20 })),
        async ([at, cut, insert]) => {
          const mangled = raw.slice(0, at) + insert + raw.slice(at + cut);
          const complaint = await parseArf(mangled).catch((err: unknown) => {
            if (!(err instanceof ArfParseError)) throw err;
            return null;
          });
          const reported = complaint?.emailId ?? null;
          // A cut that reaches into the id itself can turn it into another well-formed id
          // (e.g. "00" → "2"): then the parser may report only what the text now says, as a
          // whole token (not the start of a longer one), lowercased as ids always are.
          const touchesId = at <= idAt + o.emailId!.length && at + Math.max(cut, 1) >= idAt;
          if (touchesId && reported !== null) {
            expect(mangled.toLowerCase()).toMatch(
              new RegExp(`(^|[^0-9a-z-])${reported}($|[^0-9a-z_-])`),
            );
          } else expect([null, o.emailId]).toContain(reported);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('fails only with ArfParseError on a mangled base64 report', async () => {
    await fc.assert(
      fc.asyncProperty(
        mangle(buildArfReport({ ...ids(), encoding: 'base64' })),
        async (mangled) => {
          await parseArf(mangled).catch((err: unknown) => {
            if (!(err instanceof ArfParseError)) throw err;
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('parseInboundPostalPayload', () => {
  it('decodes the raw-message format (Ruby base64 with line breaks)', async () => {
    const o = ids();
    const payload = postalRawPayload(buildArfReport(o));
    expect(payload.message).toMatch(/^[A-Za-z0-9+/]{60}\n/);

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({
      feedbackType: 'abuse',
      originalRecipient: o.recipient,
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('accepts base64 sent as the string "true" (Postal FormData encoding)', async () => {
    const o = ids();
    const payload = { ...postalRawPayload(buildJmrpMessage(o)), base64: 'true', size: '812' };

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({
      feedbackType: 'abuse',
      emailId: o.emailId,
    });
  });

  it('reads a message that is not base64-encoded', async () => {
    const o = ids();
    const payload = { id: 1, message: buildArfReport(o), base64: false };

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({ emailId: o.emailId });
  });

  it('rejects a raw-message payload whose message is not base64', async () => {
    const payload = { ...postalRawPayload('x'), message: '%%% not base64 %%%' };

    await expect(parseInboundPostalPayload(payload)).rejects.toThrow(/not base64/);
  });

  it('rejects a raw-message payload that decodes to more than the cap', async () => {
    const payload = { id: 1, base64: true, message: 'QUFB'.repeat(ARF_MAX_BYTES / 3 + 10) };

    await expect(parseInboundPostalPayload(payload)).rejects.toThrow(/larger than/);
  });

  it('reads the hash format with a named feedback-report attachment', async () => {
    const o = ids();
    const payload = postalHashPayload({ ...o, feedbackType: 'fraud', namedReport: true });

    await expect(parseInboundPostalPayload(payload)).resolves.toEqual({
      feedbackType: 'fraud',
      userAgent: 'SomeGenerator/1.0 (ISP Feedback Loop)',
      originalRecipient: o.recipient,
      originalMailFrom: 'bounces@rp.sender.example',
      arrivalDate: new Date('2025-01-22T10:11:12.000Z'),
      reportedDomain: 'sender.example',
      sourceIp: '192.0.2.25',
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('reads the hash format where Postal kept only the .eml attachment as abuse', async () => {
    const o = ids();
    const payload = postalHashPayload({ ...o, feedbackType: 'fraud' });
    expect(payload.attachments).toHaveLength(1);

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({
      feedbackType: 'abuse',
      originalRecipient: o.recipient,
      emailId: o.emailId,
      postalMessageId: o.messageId,
    });
  });

  it('reads hash attachments sent as flat FormData keys', async () => {
    const o = ids();
    const hash = postalHashPayload({ ...o, namedReport: true });
    const flat: Record<string, unknown> = { ...hash };
    delete flat.attachments;
    (hash.attachments as Record<string, unknown>[]).forEach((a, i) => {
      for (const [key, value] of Object.entries(a)) flat[`attachments[${i}][${key}]`] = value;
    });

    await expect(parseInboundPostalPayload(flat)).resolves.toMatchObject({
      feedbackType: 'abuse',
      sourceIp: '192.0.2.25',
      emailId: o.emailId,
    });
  });

  it('finds an inline-forwarded original in the hash plain_body', async () => {
    const o = ids();
    const payload = { id: 9, plain_body: `Spam report:\n\n${buildOriginalMessage(o)}` };

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({
      feedbackType: 'abuse',
      emailId: o.emailId,
    });
  });

  it('finds an X-Email-Id line in the hash html_body', async () => {
    const o = ids();
    const payload = {
      id: 10,
      plain_body: null,
      html_body: `<p>Reported message:</p><p>X-Email-Id: ${o.emailId}<br>To: ${o.recipient}</p>`,
    };

    await expect(parseInboundPostalPayload(payload)).resolves.toMatchObject({
      emailId: o.emailId,
      originalRecipient: o.recipient,
    });
  });

  it('rejects hash attachments that decode to more than the cap in total', async () => {
    const half = Buffer.alloc(ARF_MAX_BYTES / 2 + 1, 'a').toString('base64');
    const attachment = { filename: 'a.txt', content_type: 'text/plain', data: half };
    const payload = { id: 12, attachments: [attachment, attachment] };

    await expect(parseInboundPostalPayload(payload)).rejects.toThrow(/larger than/);
  });

  it('rejects hash attachment data that is not base64', async () => {
    const payload = {
      id: 11,
      attachments: [{ filename: 'a.eml', content_type: 'message/rfc822', data: '***' }],
    };

    await expect(parseInboundPostalPayload(payload)).rejects.toThrow(ArfParseError);
  });

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['a string', 'message'],
    ['a number', 7],
    ['an empty object', {}],
    ['a numeric message', { message: 12, base64: true }],
    ['attachments that are not a list', { attachments: 'x' }],
    ['a hash without any complaint', { id: 1, plain_body: 'hello', attachments: [] }],
  ])('rejects %s', async (_label, body) => {
    await expect(parseInboundPostalPayload(body)).rejects.toThrow(ArfParseError);
  });

  it('fails only with ArfParseError on arbitrary JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (body) => {
        await parseInboundPostalPayload(body).catch((err: unknown) => {
          if (!(err instanceof ArfParseError)) throw err;
        });
      }),
      { numRuns: 200 },
    );
  });
});
