import fc from 'fast-check';
import {
  BOUNCE_REASONS,
  BounceInput,
  BounceReason,
  BounceType,
  classifyBounce,
} from 'src/modules/emails/lifecycle/postal/bounce-classifier';

function expectVerdict(input: BounceInput, type: BounceType, reason: BounceReason): void {
  const result = classifyBounce(input);
  expect({ type: result.bounce_type, reason: result.bounce_reason }).toEqual({ type, reason });
}

const hardOutput = (output: string, reason: BounceReason) =>
  expectVerdict({ output }, 'hard', reason);
const softOutput = (output: string, reason: BounceReason) =>
  expectVerdict({ output }, 'soft', reason);

describe(classifyBounce.name, () => {
  describe('RFC 3463 X.1.x (address status)', () => {
    it('5.1.1 bad destination mailbox is hard user_unknown', () => {
      hardOutput(
        '550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
        'user_unknown',
      );
    });

    it('5.1.2 bad destination system is hard host_unknown', () => {
      hardOutput(
        '550 5.1.2 <ann@nowhere.example>: Recipient address rejected: Domain not found',
        'host_unknown',
      );
      hardOutput(
        'Sorry, I could not find any host named nowhere.example. (#5.1.2)',
        'host_unknown',
      );
    });

    it('5.1.3 bad destination mailbox syntax is hard', () => {
      hardOutput('501 5.1.3 Bad recipient address syntax', 'user_unknown');
    });

    it('5.1.10 null MX (RFC 7505) is hard host_unknown', () => {
      hardOutput('556 5.1.10 Recipient address has null MX', 'host_unknown');
    });

    it('5.1.10 as Microsoft uses it (recipient not found) is hard user_unknown', () => {
      hardOutput(
        '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
        'user_unknown',
      );
    });

    it('5.1.6 mailbox moved without forwarding address is hard', () => {
      hardOutput('550 5.1.6 recipient no longer on server', 'user_unknown');
    });

    it('5.1.8 is about our sender domain, so soft even when it says "does not exist"', () => {
      softOutput(
        '553 5.1.8 <bounce@mailer.example>... Domain of sender address bounce@mailer.example does not exist',
        'policy',
      );
    });
  });

  describe('RFC 3463 X.2.x (mailbox status)', () => {
    it('5.2.1 mailbox disabled is soft suspended', () => {
      softOutput('550 5.2.1 The email account that you tried to reach is disabled.', 'suspended');
    });

    it('5.2.1 that says the user is unknown is hard', () => {
      hardOutput('550 5.2.1 <bob@example.jp>... User Unknown', 'user_unknown');
    });

    it('5.2.2 mailbox full is soft', () => {
      softOutput('552 5.2.2 <bob@example.com>: user is over quota', 'mailbox_full');
    });

    it('5.2.3 message length over the limit is soft message_too_large', () => {
      softOutput('552 5.2.3 Message length exceeds administrative limit', 'message_too_large');
    });

    it('5.3.4 message too big is soft', () => {
      softOutput('552 5.3.4 Message size exceeds fixed limit', 'message_too_large');
    });
  });

  describe('RFC 3463 X.7.x (security / policy) is always soft', () => {
    it('5.7.1 blocklist', () => {
      softOutput(
        '550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
        'blocked',
      );
    });

    it('5.7.26 DMARC', () => {
      softOutput(
        "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's 550-5.7.26 DMARC policy.",
        'auth_failure',
      );
    });

    it('5.7.1 with "user unknown" text stays a soft policy reject (the code outranks the wording)', () => {
      softOutput('550 5.7.1 <ann@example.com>: Recipient address rejected: User unknown', 'policy');
    });

    it('"Recipient address rejected: Access denied" is policy', () => {
      softOutput(
        '554 5.7.1 <ann@example.com>: Recipient address rejected: Access denied',
        'policy',
      );
    });

    it("except Microsoft 365's 5.4.1 Access denied, which is its directory saying no such user", () => {
      hardOutput(
        '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [X.eop-nam12.prod.protection.outlook.com]',
        'user_unknown',
      );
    });

    it('relaying denied', () => {
      softOutput('554 5.7.1 <ann@example.com>: Relay access denied', 'policy');
    });
  });

  describe('RFC 3463 class 4 is never hard', () => {
    it('4.2.2 mailbox full', () => {
      softOutput('452 4.2.2 Mailbox full', 'mailbox_full');
    });

    it('421 4.7.0 throttling', () => {
      softOutput(
        '421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume',
        'rate_limited',
      );
    });

    it('4.4.1 connection timed out', () => {
      softOutput('451 4.4.1 Connection timed out', 'network');
    });

    it('4.1.1 user unknown keeps its reason but stays soft', () => {
      softOutput(
        '450 4.1.1 <ann@example.com>: Recipient address rejected: User unknown in virtual alias table',
        'user_unknown',
      );
    });
  });

  describe('enhanced code outranks the basic reply code', () => {
    it('550 4.2.2 is a soft mailbox_full', () => {
      softOutput('550 4.2.2 mailbox full', 'mailbox_full');
    });

    it('554 5.1.1 is hard', () => {
      hardOutput('554 5.1.1 <ann@example.com>: Recipient address rejected', 'user_unknown');
    });

    // A 4xx reply means the server itself invites a retry, so a mismatched permanent code
    // decides the reason but not the type: suppressing on a self-contradicting reply is too risky.
    it('450 5.1.1 is soft user_unknown', () => {
      softOutput('450 5.1.1 <ann@example.com>: User unknown', 'user_unknown');
    });

    it('quota text outranks a misused 5.1.1: the mailbox exists', () => {
      softOutput(
        '552 sorry, mailbox ann@example.com is over quota temporarily (#5.1.1)',
        'mailbox_full',
      );
    });
  });

  describe('text only (no enhanced code, or a generic one)', () => {
    it('"Host or domain name not found" is hard host_unknown (our own DNS lookup)', () => {
      hardOutput(
        'Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found',
        'host_unknown',
      );
    });

    it('"Host not found, try again" is a temporary DNS failure', () => {
      softOutput(
        'Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again',
        'network',
      );
    });

    it('"mailbox full" is soft', () => {
      softOutput('mailbox full', 'mailbox_full');
    });

    it('Gmail\'s "does not exist" is hard', () => {
      hardOutput(
        '550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient',
        'user_unknown',
      );
      hardOutput('The email account that you tried to reach does not exist.', 'user_unknown');
    });

    it('Exim "Unrouteable address" and null-MX wording are hard host_unknown', () => {
      hardOutput('550 Unrouteable address', 'host_unknown');
      hardOutput('an MX or SRV record indicated no SMTP service', 'host_unknown');
    });

    it('"550 mailbox unavailable" with no further hint is a dead address', () => {
      hardOutput('550 Requested action not taken: mailbox unavailable', 'user_unknown');
      hardOutput('550 5.5.0 Requested action not taken: mailbox unavailable.', 'user_unknown');
    });

    it('a mailbox unavailable for a stated soft reason is soft', () => {
      softOutput(
        '550 Requested action not taken: mailbox unavailable; client host blocked using bl.spamcop.net',
        'blocked',
      );
    });

    it('"account has been disabled" is soft suspended', () => {
      softOutput(
        '554 delivery error: dd Sorry your message cannot be delivered. This account has been disabled or discontinued',
        'suspended',
      );
    });

    // Filters and anti-harvesting setups answer with the same words (Sisimai's "filtered"),
    // so generic "user unknown" wording alone is soft; it needs corroboration to be hard.
    it('a bare "User unknown" is soft user_unknown', () => {
      softOutput('User unknown', 'user_unknown');
      softOutput('550 5.0.0 <ann@example.com>: User unknown', 'user_unknown');
    });

    it('"User unknown" in reply to RCPT TO, or with 553, is hard', () => {
      hardOutput(
        'SMTP error from remote mail server after RCPT TO:<ann@example.com>: 550 User unknown',
        'user_unknown',
      );
      hardOutput('553 <ann@example.com>... No such user here', 'user_unknown');
    });

    it('"User unknown" after DATA is a content filter, not a dead address', () => {
      softOutput(
        'SMTP error from remote mail server after end of data: 550 5.0.0 User unknown',
        'user_unknown',
      );
    });

    it('ignores words inside quoted addresses', () => {
      softOutput('550 5.7.1 <userunknown@example.com>: message rejected as spam', 'spam_detected');
      hardOutput('<mailboxfull@example.com>: 550 5.1.1 User unknown', 'user_unknown');
    });
  });

  describe('expiry', () => {
    it('Postal\'s "Maximum number of delivery attempts" is soft expired', () => {
      expectVerdict(
        { details: 'Maximum number of delivery attempts (18) has been reached' },
        'soft',
        'expired',
      );
    });

    it('it wins over the last temporary output', () => {
      expectVerdict(
        {
          output: '451 4.7.1 Please try again later',
          details: 'Maximum number of delivery attempts (18) has been reached',
        },
        'soft',
        'expired',
      );
    });

    it('"Message expired" and "retry timeout exceeded" are soft expired', () => {
      softOutput('550 5.4.316 Message expired, connection refused', 'expired');
      softOutput('Reason: delivery retry timeout exceeded', 'expired');
    });
  });

  describe('empty input', () => {
    it.each<BounceInput>([{}, { output: null, details: null, text: null }, { output: '  ' }])(
      'is soft unknown with null codes: %p',
      (input) => {
        expect(classifyBounce(input)).toEqual({
          bounce_type: 'soft',
          bounce_reason: 'unknown',
          smtp_code: null,
          enhanced_code: null,
        });
      },
    );

    it('Postal\'s generic "Permanent SMTP delivery error" details alone is soft unknown', () => {
      expectVerdict(
        { details: 'Permanent SMTP delivery error when sending to mx.example.com' },
        'soft',
        'unknown',
      );
    });
  });

  describe('code extraction', () => {
    it('takes the reply code and enhanced code, not IP addresses or ports', () => {
      const result = classifyBounce({
        output:
          'host mx.example.com[192.0.2.25]:25 said: 550 5.1.1 <ann@example.com>: User unknown (in reply to RCPT TO command)',
      });
      expect(result).toMatchObject({
        smtp_code: '550',
        enhanced_code: '5.1.1',
        bounce_type: 'hard',
      });
    });

    it('reads multi-line replies', () => {
      expect(
        classifyBounce({ output: '550-5.7.26 Unauthenticated email 550-5.7.26 DMARC' }),
      ).toMatchObject({
        smtp_code: '550',
        enhanced_code: '5.7.26',
      });
    });

    it('reads qmail-style "(#5.1.1)" without a reply code', () => {
      expect(classifyBounce({ output: 'Sorry, no mailbox here by that name. (#5.1.1)' })).toEqual({
        bounce_type: 'hard',
        bounce_reason: 'user_unknown',
        smtp_code: null,
        enhanced_code: '5.1.1',
      });
    });

    it('finds no code in a bare connection error', () => {
      expect(
        classifyBounce({ output: 'connect to mx.example.com[192.0.2.1]:25: Connection refused' }),
      ).toEqual({
        bounce_type: 'soft',
        bounce_reason: 'network',
        smtp_code: null,
        enhanced_code: null,
      });
    });

    it('explicit smtpCode and enhancedCode win over the text', () => {
      expect(classifyBounce({ output: 'rejected', smtpCode: 550, enhancedCode: '5.1.1' })).toEqual({
        bounce_type: 'hard',
        bounce_reason: 'user_unknown',
        smtp_code: '550',
        enhanced_code: '5.1.1',
      });
      expect(
        classifyBounce({ output: '550 5.1.1 User unknown', enhancedCode: '5.2.2' }),
      ).toMatchObject({
        bounce_type: 'soft',
        bounce_reason: 'mailbox_full',
        enhanced_code: '5.2.2',
      });
    });

    it('an explicit 4xx smtpCode makes the bounce transient', () => {
      expect(classifyBounce({ output: '550 5.1.1 User unknown', smtpCode: '421' })).toMatchObject({
        bounce_type: 'soft',
        smtp_code: '421',
      });
    });

    it('ignores a malformed explicit code and falls back to the text', () => {
      expect(
        classifyBounce({ output: '550 5.1.1 User unknown', smtpCode: 'abc', enhancedCode: 'x' }),
      ).toMatchObject({ bounce_type: 'hard', smtp_code: '550', enhanced_code: '5.1.1' });
    });
  });

  describe('DSN bodies', () => {
    const dsn = (status: string, diagnostic: string, original = '') =>
      [
        'This is the mail system at host mx.example.net.',
        '',
        'Reporting-MTA: dns; mx.example.net',
        '',
        'Final-Recipient: rfc822; ann@example.com',
        'Action: failed',
        `Status: ${status}`,
        `Diagnostic-Code: smtp; ${diagnostic}`,
        '',
        original,
      ].join('\n');

    it('prefers Status and Diagnostic-Code over the quoted original message', () => {
      const text = dsn(
        '5.1.1',
        '550 5.1.1 <ann@example.com>: Recipient address\n    rejected: User unknown in local recipient table',
        'Content-Type: message/rfc822\n\nSubject: spam spam mailbox full offers',
      );
      expect(classifyBounce({ text })).toEqual({
        bounce_type: 'hard',
        bounce_reason: 'user_unknown',
        smtp_code: '550',
        enhanced_code: '5.1.1',
      });
    });

    it('classifies a quota DSN as soft', () => {
      expect(classifyBounce({ text: dsn('5.2.2', '552 5.2.2 Over quota') })).toMatchObject({
        bounce_type: 'soft',
        bounce_reason: 'mailbox_full',
        enhanced_code: '5.2.2',
      });
    });

    it('scans a long body to the end', () => {
      const text = `${'Lorem ipsum dolor sit amet. '.repeat(5000)}\n550 5.1.1 <ann@example.com>... User unknown`;
      expect(classifyBounce({ text })).toMatchObject({
        bounce_type: 'hard',
        bounce_reason: 'user_unknown',
      });
    });
  });

  // Issue 12: a DSN's per-recipient fields (RFC 3464 §2.3) are classified directly.
  describe('DSN per-recipient fields', () => {
    it('Status outranks the wording: 5.1.1 makes generic "User unknown" hard', () => {
      expect(classifyBounce({ status: '5.1.1', diagnosticCode: 'smtp; 550 User unknown' })).toEqual(
        {
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
          smtp_code: '550',
          enhanced_code: '5.1.1',
        },
      );
    });

    it('Status 5.7.1 keeps "user unknown" wording soft (policy code, not an address code)', () => {
      expectVerdict(
        { status: '5.7.1', diagnosticCode: 'smtp; 550 User unknown' },
        'soft',
        'policy',
      );
    });

    it('Diagnostic-Code outranks Postal output and details', () => {
      expectVerdict(
        {
          diagnosticCode: 'smtp; 552 5.2.2 Mailbox full',
          output: '250 2.0.0 OK',
          details: 'Permanent SMTP delivery error when sending to mx.example.com',
        },
        'soft',
        'mailbox_full',
      );
    });

    it('reads a Diagnostic-Code given without its type', () => {
      expectVerdict(
        { status: '5.1.10', diagnosticCode: '550 5.1.10 RESOLVER.ADR.RecipientNotFound' },
        'hard',
        'user_unknown',
      );
    });

    it('Action: delayed is never hard, whatever the codes say', () => {
      expect(
        classifyBounce({
          action: 'delayed',
          status: '5.1.1',
          diagnosticCode: 'smtp; 550 5.1.1 User unknown',
        }).bounce_type,
      ).toBe('soft');
    });

    it.each(['delivered', 'relayed', 'expanded'])('Action: %s is not a failure', (action) => {
      expectVerdict(
        { action, status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 User unknown' },
        'soft',
        'unknown',
      );
    });

    it('Remote-MTA alone does not change the verdict', () => {
      const fields = { status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 User unknown' };
      expect(classifyBounce({ ...fields, remoteMta: 'dns; mx.example.com' })).toEqual(
        classifyBounce(fields),
      );
    });

    it('when Status and the remote reply disagree on hard/soft, soft wins (ties to soft)', () => {
      expectVerdict(
        { status: '5.1.1', diagnosticCode: 'smtp; 552 5.2.2 Over quota' },
        'soft',
        'mailbox_full',
      );
      expectVerdict(
        { status: '5.2.2', diagnosticCode: 'smtp; 550 5.1.1 User unknown' },
        'soft',
        'mailbox_full',
      );
    });

    it('a class 4 code in the remote reply makes it transient even with a 5.x.x Status', () => {
      expect(
        classifyBounce({ status: '5.1.1', diagnosticCode: 'smtp; 450 4.1.1 User unknown' })
          .bounce_type,
      ).toBe('soft');
    });

    it('a generic Status (5.0.0) lets a specific reply code decide', () => {
      expectVerdict(
        { status: '5.0.0', diagnosticCode: 'smtp; 550 5.1.1 <ann@example.com>... User unknown' },
        'hard',
        'user_unknown',
      );
    });

    it('keeps `classifyBounce(input)` working with the old fields only', () => {
      hardOutput('550 5.1.1 User unknown', 'user_unknown');
    });
  });

  // Held-out MTAs showed live addresses suppressed: text proving the mailbox exists, or that
  // the failure was on our side or temporary, outranks a hard code (RFC 3463 codes are often
  // misused; a wrong soft costs one more bounce, a wrong hard loses a reader).
  describe('text that proves the mailbox exists outranks a hard code', () => {
    it.each<[string, BounceReason]>([
      ['550 5.1.1 The email account that you tried to reach is disabled.', 'suspended'],
      ['550 5.1.1 <ann@example.com>: account is suspended', 'suspended'],
      ['550 5.1.1 Message too large for this recipient', 'message_too_large'],
      ['550 5.1.1 Rate limit exceeded for this recipient, try again later', 'rate_limited'],
      ['550 5.1.1 Delivery time expired', 'expired'],
      ['procmail: Couldn\'t create "/var/spool/mail/ann": No such user (#5.1.1)', 'system_error'],
    ])('%s → soft %s', (output, reason) => {
      softOutput(output, reason);
    });

    it('with the same code given as a DSN Status', () => {
      expectVerdict(
        { status: '5.1.1', diagnosticCode: 'smtp; 550 mailbox for user is suspended' },
        'soft',
        'suspended',
      );
    });

    it('"inactive email address" stays with its 5.1.1 code (a dead address)', () => {
      hardOutput('550 5.1.1 <ann@icloud.com>: inactive email address', 'user_unknown');
    });
  });

  // RFC 3464 §2.3.4: `Status:` is per recipient, while one Diagnostic-Code may quote the
  // replies for every recipient of the message (GMX, Mail.ru and Exim transcripts do).
  describe('a Diagnostic-Code quoting several recipients: the reply with our Status decides', () => {
    const twoRecipients =
      'smtp; "ann@example.com": SMTP error from remote server after RCPT command: host: mx.example.com 5.2.1 <ann@example.com>... User Unknown ' +
      '"bob@example.com": SMTP error from remote server after RCPT command: host: mx.example.com 5.2.2 <bob@example.com>... Mailbox Full';
    const fullFirst =
      'bob@example.com SMTP error from remote mail server after RCPT TO:<bob@example.com>: host mx.example.com [192.0.2.12]: 550 5.2.2 <bob@example.com>... Mailbox Full ' +
      'ann@example.com SMTP error from remote mail server after RCPT TO:<ann@example.com>: host mx.example.com [192.0.2.12]: 550 5.2.1 <ann@example.com>... User Unknown';

    it.each([twoRecipients, fullFirst])(
      'Status 5.2.1 reads the "User Unknown" reply: hard (%#)',
      (text) => {
        expect(
          classifyBounce({ action: 'failed', status: '5.2.1', diagnosticCode: text }),
        ).toMatchObject({
          bounce_type: 'hard',
          bounce_reason: 'user_unknown',
          enhanced_code: '5.2.1',
        });
      },
    );

    it.each([twoRecipients, fullFirst])(
      'Status 5.2.2 reads the "Mailbox Full" reply: soft (%#)',
      (text) => {
        expectVerdict({ status: '5.2.2', diagnosticCode: text }, 'soft', 'mailbox_full');
      },
    );

    it('the same in a whole DSN body', () => {
      const text = [
        'Final-Recipient: rfc822; ann@example.com',
        'Action: failed',
        'Status: 5.2.1',
        `Diagnostic-Code: ${fullFirst}`,
      ].join('\n');
      expectVerdict({ text }, 'hard', 'user_unknown');
    });

    it('a reply code of the same recipient is not dropped (multi-line reply, "250 2.1.0" lines)', () => {
      expectVerdict(
        {
          status: '5.1.1',
          diagnosticCode:
            '250 2.1.0 Sender ok; 550-5.1.1 No such mailbox here 550 5.1.1 by that name',
        },
        'hard',
        'user_unknown',
      );
    });

    it('with no Status the text is read whole, so the first reply still decides', () => {
      expectVerdict({ diagnosticCode: fullFirst }, 'soft', 'mailbox_full');
    });
  });

  // A Status that the remote reply does not carry is the reporting MTA's translation of a basic
  // reply code (Bigfoot reports "553 Invalid recipient" as 5.7.1): what the remote said decides
  // when it is enough on its own; when the remote gave its own enhanced code, that code stands.
  describe('a DSN Status that the remote reply does not carry', () => {
    it.each([
      'smtp; 553 Invalid recipient ann@example.org (Mode: normal)',
      'smtp; 550 Recipient does not exist here',
      '553 <ann@example.org>... No such user here',
      'SMTP error from remote mail server after RCPT TO:<ann@example.org>: 550 User unknown',
    ])('Status 5.7.1 + "%s" is hard', (diagnosticCode) => {
      expectVerdict({ status: '5.7.1', diagnosticCode }, 'hard', 'user_unknown');
    });

    it('the same with Postal output and an enhanced code known from elsewhere', () => {
      expectVerdict(
        { output: '553 Invalid recipient ann@example.org', enhancedCode: '5.7.1' },
        'hard',
        'user_unknown',
      );
    });

    it.each([
      // the remote's own 5.7.1: a policy reject, whatever the wording
      ['smtp; 553 5.7.1 Invalid recipient ann@example.org', 'policy'],
      // generic wording without corroboration stays with the Status
      ['smtp; 550 User unknown', 'policy'],
      // after DATA the recipients were accepted: a filter
      ['SMTP error from remote mail server after end of data: 553 Invalid recipient', 'policy'],
    ] as const)('Status 5.7.1 + "%s" stays soft %s', (diagnosticCode, reason) => {
      expectVerdict({ status: '5.7.1', diagnosticCode }, 'soft', reason);
    });
  });

  describe('our side of the exchange is never the address', () => {
    it.each([
      '550 5.7.1 Helo command rejected: Host not found',
      '554 Helo command rejected: host not found',
      '550 Mail from address rejected: domain does not exist',
      '550 Sender domain does not exist',
      '550 Our system does not accept mail from your IP address',
    ])('%s is soft', (output) => {
      expect(classifyBounce({ output }).bounce_type).toBe('soft');
    });

    it('a null-MX "does not accept mail" is still hard', () => {
      hardOutput('556 5.1.10 Domain example.com does not accept mail', 'host_unknown');
      hardOutput('example.com does not accept mail (null MX)', 'host_unknown');
    });

    it('a domain that does not resolve is hard even in a transcript that went past DATA', () => {
      hardOutput(
        '>>> DATA <<< 550 Rejected. 554 <bob@nowhere.example>... 550 Host unknown (Authoritative answer from name server)',
        'host_unknown',
      );
    });
  });

  describe('properties', () => {
    const reasons: readonly string[] = BOUNCE_REASONS;
    const optionalText = fc.option(fc.string({ unit: 'binary', maxLength: 400 }), {
      nil: undefined,
    });
    const anyInput: fc.Arbitrary<BounceInput> = fc.record(
      {
        output: fc.option(fc.string({ unit: 'binary', maxLength: 400 })),
        details: optionalText,
        text: optionalText,
        smtpCode: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 5 }))),
        enhancedCode: fc.option(fc.string({ maxLength: 12 })),
        status: fc.option(fc.string({ maxLength: 12 })),
        diagnosticCode: optionalText,
        action: fc.option(fc.string({ maxLength: 12 })),
        remoteMta: fc.option(fc.string({ maxLength: 40 })),
      },
      { requiredKeys: [] },
    );

    it('never throws and always returns a valid classification', () => {
      fc.assert(
        fc.property(anyInput, (input) => {
          const result = classifyBounce(input);
          expect(['hard', 'soft']).toContain(result.bounce_type);
          expect(reasons).toContain(result.bounce_reason);
          if (result.smtp_code !== null) expect(result.smtp_code).toMatch(/^[2-5]\d\d$/);
          if (result.enhanced_code !== null)
            expect(result.enhanced_code).toMatch(/^[245]\.\d{1,3}\.\d{1,3}$/);
        }),
      );
    });

    const hardSounding = fc.constantFrom(
      'User unknown',
      'Recipient address rejected: User unknown in local recipient table',
      'The email account that you tried to reach does not exist',
      'Host or domain name not found',
      'no such user here',
      'Unrouteable address',
      'mailbox unavailable',
      '',
    );
    const class4Code = fc
      .tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 999 }))
      .map(([subject, detail]) => `4.${subject}.${detail}`);

    it('is never hard when the enhanced code is class 4', () => {
      fc.assert(
        fc.property(
          class4Code,
          fc.constantFrom('', '450 ', '550 ', '554 '),
          hardSounding,
          fc.string({ maxLength: 60 }),
          fc.boolean(),
          (code, reply, phrase, noise, explicit) => {
            const output = `${reply}${code} ${phrase} ${noise}`;
            const input: BounceInput = explicit ? { output, enhancedCode: code } : { output };
            expect(classifyBounce(input).bounce_type).toBe('soft');
          },
        ),
      );
    });

    it('is never hard with a 4xx reply code', () => {
      fc.assert(
        fc.property(fc.integer({ min: 400, max: 459 }), hardSounding, (reply, phrase) => {
          expect(classifyBounce({ output: `${reply} 5.1.1 ${phrase}` }).bounce_type).toBe('soft');
        }),
      );
    });
  });
});
