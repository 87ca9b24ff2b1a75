import {
  parseBounceMessage,
  parseDeliveryStatus,
} from 'src/modules/emails/lifecycle/postal/bounce-message';
import { postalStoredRaw, postfixBounce, rubyEncode64 } from 'test/fakes/postal-payloads';

/**
 * Bounces as Postal stores them and serves them as `raw_message` (app/controllers/legacy_api/
 * messages_controller.rb, lib/postal/message_db/message.rb `raw_message`).
 */
describe('parseBounceMessage', () => {
  const stored = (o: Parameters<typeof postfixBounce>[0]) =>
    Buffer.from(
      Buffer.from(rubyEncode64(postalStoredRaw(postfixBounce(o))).replace(/\s+/g, ''), 'base64'),
    );

  it('reads the per-recipient DSN fields of a Postfix report, not only its first text part', async () => {
    const p = await parseBounceMessage(
      stored({
        recipient: 'ann@rcpt.example',
        token: 'AbCdEf123456',
        status: '5.1.1',
        remoteMta: 'dns; mx.rcpt.example',
        diagnosticCode:
          'smtp; 550 5.1.1 <ann@rcpt.example>: Recipient address rejected: User unknown',
        humanLine: '',
      }),
      'ann@rcpt.example',
    );
    expect(p.dsn).toEqual({
      finalRecipient: 'ann@rcpt.example',
      action: 'failed',
      status: '5.1.1',
      diagnosticCode: '550 5.1.1 <ann@rcpt.example>: Recipient address rejected: User unknown',
      diagnosticType: 'smtp',
      remoteMta: 'mx.rcpt.example',
    });
    expect(p.text).toContain('This is the mail system at host mx.rcpt.example.');
    // The returned headers part is not the bounce's text.
    expect(p.text).not.toContain('X-Postal-MsgID');
    expect(p.subject).toBe('Undelivered Mail Returned to Sender');
  });

  it('picks the block of the bounced recipient among several, and unfolds folded fields', () => {
    const dsn = [
      'Reporting-MTA: dns; mx.example',
      '',
      'Final-Recipient: rfc822; other@rcpt.example',
      'Action: failed',
      'Status: 5.2.2',
      '',
      'Final-Recipient: rfc822; <Ann@Rcpt.example>',
      'Action: failed',
      'Status: 5.1.1 (user unknown)',
      'Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does',
      '    not exist.',
      '',
    ].join('\r\n');
    expect(parseDeliveryStatus(dsn, 'ann@rcpt.example')).toEqual(
      expect.objectContaining({
        status: '5.1.1',
        diagnosticCode: '550-5.1.1 The email account that you tried to reach does not exist.',
      }),
    );
    // Unknown recipient: the first failed block.
    expect(parseDeliveryStatus(dsn, 'nobody@x.example')?.status).toBe('5.2.2');
  });

  it('has no DSN for a plain-text bounce, and never throws on garbage', async () => {
    const plain = await parseBounceMessage(
      Buffer.from('Subject: failure\r\n\r\n<ann@rcpt.example>: 550 User unknown\r\n'),
    );
    expect(plain.dsn).toBeNull();
    expect(plain.text).toContain('550 User unknown');
    const garbage = await parseBounceMessage(Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(garbage.dsn).toBeNull();
    expect(parseDeliveryStatus('Reporting-MTA: dns; x\r\n')).toBeNull();
  });
});
