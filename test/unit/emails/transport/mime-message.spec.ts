import { createHash } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { buildMime } from 'src/modules/emails/transport/mime-message';
import type { OutgoingMessage } from 'src/modules/emails/transport/mail-transport';

const pdf = Buffer.from('%PDF-1.4\n\x00\x01\x02\xff binary', 'latin1');
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: '6f1d2c1e-8a51-4d0e-9a57-1c3f7f0a9b21',
    from: 'Shop <news@shop.example>',
    to: 'bob@example.com',
    toName: null,
    toHeader: [
      { address: 'ann@example.com', name: 'Ann Smith' },
      { address: 'bob@example.com', name: null },
    ],
    ccHeader: [{ address: 'lead@example.com', name: 'Ünïcode Lead' }],
    replyTo: 'help@shop.example',
    subject: 'Invoice <42> & co',
    html: '<p>Hello</p><img src="cid:logo">',
    text: 'Hello',
    headers: {
      'X-Entity-Ref': '42',
      'X-Email-Id': '6f1d2c1e-8a51-4d0e-9a57-1c3f7f0a9b21',
      'List-Unsubscribe': `<https://mail.shop.example/unsubscribe/${'t'.repeat(180)}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    rfcMessageId: '<6f1d2c1e-8a51-4d0e-9a57-1c3f7f0a9b21@shop.example>',
    tag: 'invoices',
    attachments: [
      {
        filename: 'invoice.pdf',
        contentType: 'application/pdf',
        contentId: null,
        content: pdf,
        size: pdf.length,
        sha256: sha(pdf),
      },
      {
        filename: 'logo.png',
        contentType: 'image/png',
        contentId: 'logo',
        content: png,
        size: png.length,
        sha256: sha(png),
      },
    ],
    ...overrides,
  };
}

describe('buildMime', () => {
  it('lists every To and Cc address, never the envelope-only recipient as Bcc', async () => {
    const raw = await buildMime(message({ to: 'hidden@example.com' }));
    const mail = await simpleParser(raw);
    const head = raw.toString('latin1').split('\r\n\r\n', 1)[0];

    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value : []).toEqual([
      { address: 'ann@example.com', name: 'Ann Smith' },
      { address: 'bob@example.com', name: '' },
    ]);
    expect(mail.cc && !Array.isArray(mail.cc) ? mail.cc.value : []).toEqual([
      { address: 'lead@example.com', name: 'Ünïcode Lead' },
    ]);
    expect(head).not.toMatch(/^bcc:/im);
    expect(raw.toString('latin1')).not.toContain('hidden@example.com');
  });

  it('writes the service headers as spelled, unfolded, with our Message-ID and the Postal tag', async () => {
    const m = message();
    const raw = await buildMime(m);
    const head = raw.toString('latin1').split('\r\n\r\n', 1)[0];

    expect(head).toContain(`\r\nX-Email-Id: ${m.messageId}\r\n`);
    // Folded at white space only: unfolding gives the URL back whole.
    const unfolded = head.replace(/\r\n[ \t]/g, ' ');
    expect(unfolded).toMatch(
      /List-Unsubscribe: +<https:\/\/mail\.shop\.example\/unsubscribe\/t{180}>\r\n/,
    );
    expect(head).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n');
    expect(head).toContain('X-Entity-Ref: 42\r\n');
    expect(head).toContain('X-Postal-Tag: invoices\r\n');
    const mail = await simpleParser(raw);
    expect(mail.messageId).toBe(m.rfcMessageId);
    expect(mail.subject).toBe('Invoice <42> & co');
    expect(mail.replyTo?.text).toBe('help@shop.example');
  });

  it('carries attachments byte for byte and the inline image with its Content-ID', async () => {
    const mail = await simpleParser(await buildMime(message()), { skipImageLinks: true });

    expect(mail.attachments).toHaveLength(2);
    const file = mail.attachments.find((a) => a.filename === 'invoice.pdf')!;
    const inline = mail.attachments.find((a) => a.filename === 'logo.png')!;
    expect(file).toMatchObject({
      filename: 'invoice.pdf',
      contentType: 'application/pdf',
      contentDisposition: 'attachment',
    });
    expect(Buffer.compare(file.content, pdf)).toBe(0);
    expect(inline).toMatchObject({
      filename: 'logo.png',
      contentType: 'image/png',
      contentDisposition: 'inline',
      cid: 'logo',
      related: true,
    });
    expect(Buffer.compare(inline.content, png)).toBe(0);
    expect(mail.html).toContain('src="cid:logo"');
    expect(mail.text?.trim()).toBe('Hello');
  });

  it('addresses a single recipient with its display name when no header lists are given', async () => {
    const mail = await simpleParser(
      await buildMime(
        message({ toHeader: undefined, ccHeader: undefined, to: 'ann@example.com', toName: 'Ann' }),
      ),
    );
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value : []).toEqual([
      { address: 'ann@example.com', name: 'Ann' },
    ]);
    expect(mail.cc).toBeUndefined();
  });

  it('encodes a non-ASCII caller header value rather than sending raw bytes', async () => {
    const raw = await buildMime(message({ headers: { 'X-Note': 'café' } }));
    expect(raw.toString('latin1')).not.toContain('café');
    const head = raw.toString('latin1').split('\r\n\r\n', 1)[0];
    expect(head).toContain('X-Note: =?UTF-8?Q?caf=C3=A9?=');
  });
});
