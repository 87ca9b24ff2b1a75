import {
  buildDiagnosisPrompt,
  DIAGNOSIS_LIMITS,
  diagnosisFromText,
  DiagnosisInput,
  extractJsonObject,
  parseDiagnosis,
  redactAddresses,
} from 'src/modules/diagnostics/diagnosis-prompt';

const ADDRESSES = [
  'john.doe@gmail.com',
  'bob+tag@sub.example.co.uk',
  'alice@example.org',
  'carol_99@yahoo.com',
  'dave@mail.example.net',
  'eve@xn--bcher-kva.example',
  'frank@unicode-ß.de',
  'grace%40outlook.com',
  '"heidi smith"@example.com',
  'bounce+ivan=hotmail.com@bounces.example.com',
  'judy@[192.0.2.1]',
];

function makeInput(overrides: Partial<DiagnosisInput> = {}): DiagnosisInput {
  return {
    hour: '2026-11-20T14:00:00.000Z',
    anomalies: [
      {
        type: 'bounce_rate',
        severity: 'critical',
        metric: 'bounce_rate',
        value: 12.75,
        threshold: 10,
        domain: 'gmail.com',
        message: 'Bounce rate 12.75 % at gmail.com (first bounce: alice@example.org)',
      },
      {
        type: 'complaint_rate',
        severity: 'warning',
        metric: 'complaint_rate',
        value: 0.0731,
        threshold: 0.05,
        domain: null,
        message: 'Complaint rate 0.0731 % overall',
      },
    ],
    stats: { sent: 4812, delivered: 4137, bounced: 613, complained: 3, bounce_rate: 12.74 },
    topErrors: [
      { smtp_code: '550', message: '550 5.1.1 <john.doe@gmail.com>: user unknown', count: 411 },
      {
        smtp_code: '421',
        message: '421 4.7.0 Try again later, closing connection. (bob+tag@sub.example.co.uk)',
        count: 97,
      },
      { smtp_code: null, message: 'connection timed out to mx.carol.example', count: 12 },
    ],
    domains: [
      {
        domain: 'gmail.com',
        sent: 3208,
        delivered: 2640,
        bounced: 568,
        complained: 1,
        bounce_rate: 17.71,
        complaint_rate: 0.0312,
      },
      {
        domain: 'yahoo.com',
        sent: 901,
        delivered: 871,
        bounced: 30,
        complained: 2,
        bounce_rate: 3.33,
        complaint_rate: 0.222,
      },
    ],
    ...overrides,
  };
}

const validDiagnosis = {
  summary: 'Gmail rejects a stale list segment.',
  root_cause: 'Hard bounces (550 5.1.1) from an old import.',
  analysis: 'Most bounces are at gmail.com; yahoo.com complaints are above threshold.',
  actions: ['Pause the campaign to gmail.com', 'Re-verify the imported segment'],
  should_pause_sending: true,
  urgency: 'high',
};

describe('diagnosis-prompt', () => {
  describe(redactAddresses.name, () => {
    it.each(ADDRESSES)('removes %s', (address) => {
      const out = redactAddresses(`550 5.1.1 <${address}>: Recipient address rejected`);
      expect(out).not.toContain(address);
      expect(out).toContain('<redacted>');
      expect(out).toBe('550 5.1.1 <redacted>: Recipient address rejected');
    });

    it('removes every address of a text, mailto: included', () => {
      const out = redactAddresses(
        'to a@b.com, c.d@e.co.uk and mailto:f@g.org; reply to h+i@j.example.',
      );
      expect(out).toBe('to <redacted>, <redacted> and <redacted>; reply to <redacted>.');
    });

    it('leaves text without addresses alone', () => {
      const text = '421 4.7.0 [192.0.2.1] Our system has detected an unusual rate; see gmail.com';
      expect(redactAddresses(text)).toBe(text);
    });
  });

  describe(buildDiagnosisPrompt.name, () => {
    it('holds the anomalies, the stats numbers, the top errors and the domains', () => {
      const prompt = buildDiagnosisPrompt(makeInput());

      expect(prompt).toContain('2026-11-20T14:00:00.000Z');
      expect(prompt).toContain(
        '[CRITICAL] bounce_rate: bounce_rate = 12.75 (threshold 10) on gmail.com',
      );
      expect(prompt).toContain(
        '[WARNING] complaint_rate: complaint_rate = 0.0731 (threshold 0.05)',
      );
      for (const line of [
        '- sent: 4812',
        '- delivered: 4137',
        '- bounced: 613',
        '- bounce_rate: 12.74',
      ]) {
        expect(prompt).toContain(line);
      }
      expect(prompt).toContain('411 × SMTP 550: "550 5.1.1 <redacted>: user unknown"');
      expect(prompt).toContain('97 × SMTP 421');
      expect(prompt).toContain('12 × no SMTP code: "connection timed out to mx.carol.example"');
      expect(prompt).toContain('| gmail.com | 3208 | 2640 | 568 | 1 | 17.71 | 0.0312 |');
      expect(prompt).toContain('| yahoo.com | 901 | 871 | 30 | 2 | 3.33 | 0.222 |');
    });

    it('holds no recipient address from any field', () => {
      const input = makeInput();
      input.anomalies[0].domain = 'gmail.com';
      input.stats = { ...input.stats };
      input.topErrors.push(
        ...ADDRESSES.map((a, i) => ({
          smtp_code: '550',
          message: `rejected ${a} (#${i})`,
          count: 1,
        })),
      );
      input.domains.push({
        domain: 'zed@leak.example',
        sent: 1,
        delivered: 1,
        bounced: 0,
        complained: 0,
        bounce_rate: 0,
        complaint_rate: 0,
      });

      const prompt = buildDiagnosisPrompt(input);

      for (const address of [...ADDRESSES, 'zed@leak.example']) {
        expect(prompt).not.toContain(address);
      }
      expect(prompt).not.toMatch(/[\w.+-]+@[\w-]+\.[\w.-]+/);
      expect(prompt).toContain('rejected <redacted> (#0)');
    });

    it('states the thresholds and asks for concrete actions through the tool', () => {
      const prompt = buildDiagnosisPrompt(makeInput());

      expect(prompt).toContain('bounce rate above 5 % / 10 %');
      expect(prompt).toContain('complaint rate above 0.05 % / 0.1 %');
      expect(prompt).toContain('delivery rate below 95 % / 90 %');
      expect(prompt).toContain('soft-bounce rate above 3 % / 7 %');
      expect(prompt).toContain('report_diagnosis');
      expect(prompt).toMatch(/concrete operator actions/);
    });

    it('keeps one error on one line and caps long lists', () => {
      const prompt = buildDiagnosisPrompt(
        makeInput({
          topErrors: Array.from({ length: 25 }, (_, i) => ({
            smtp_code: '550',
            message: `line one ${i}\nline two ${'x'.repeat(1000)}`,
            count: 25 - i,
          })),
          anomalies: [],
          domains: [],
          stats: {},
        }),
      );

      expect(prompt).toContain('"line one 0 line two x');
      expect(prompt).toContain('and 5 more distinct errors');
      expect(prompt).not.toContain('x'.repeat(500));
      expect(prompt).toContain('(none listed)');
      expect(prompt).toContain('(no per-domain data)');
    });
  });

  describe(parseDiagnosis.name, () => {
    it('accepts a complete diagnosis', () => {
      expect(parseDiagnosis(validDiagnosis)).toEqual(validDiagnosis);
    });

    it('trims strings, normalises the urgency case and ignores unknown fields', () => {
      expect(
        parseDiagnosis({ ...validDiagnosis, summary: '  S  ', urgency: 'Critical', extra: 1 }),
      ).toEqual({ ...validDiagnosis, summary: 'S', urgency: 'critical' });
    });

    it('cuts over-long strings and keeps at most ten actions', () => {
      const d = parseDiagnosis({
        ...validDiagnosis,
        analysis: 'a'.repeat(DIAGNOSIS_LIMITS.analysis + 100),
        actions: Array.from({ length: 14 }, (_, i) => `action ${i}`),
      });

      expect(d?.analysis).toHaveLength(DIAGNOSIS_LIMITS.analysis);
      expect(d?.actions).toHaveLength(10);
      expect(d?.actions[9]).toBe('action 9');
    });

    it.each([
      ['null', null],
      ['a string', 'summary'],
      ['an array', [validDiagnosis]],
      ['a missing summary', { ...validDiagnosis, summary: undefined }],
      ['an empty root_cause', { ...validDiagnosis, root_cause: '   ' }],
      ['a numeric analysis', { ...validDiagnosis, analysis: 42 }],
      ['no actions', { ...validDiagnosis, actions: [] }],
      ['actions as a string', { ...validDiagnosis, actions: 'pause' }],
      ['a non-string action', { ...validDiagnosis, actions: ['ok', 3] }],
      ['an empty action', { ...validDiagnosis, actions: ['ok', ''] }],
      ['should_pause_sending as a string', { ...validDiagnosis, should_pause_sending: 'true' }],
      ['a missing should_pause_sending', { ...validDiagnosis, should_pause_sending: undefined }],
      ['an unknown urgency', { ...validDiagnosis, urgency: 'urgent' }],
      ['a missing urgency', { ...validDiagnosis, urgency: undefined }],
    ])('rejects %s', (_label, value) => {
      expect(parseDiagnosis(value)).toBeNull();
    });
  });

  describe(extractJsonObject.name, () => {
    it('reads a bare JSON object', () => {
      expect(extractJsonObject('{"a": 1}')).toEqual({ a: 1 });
    });

    it('reads JSON inside a ```json fence with prose around it', () => {
      const text = 'Here is my diagnosis:\n```json\n{"a": {"b": "x}y"}, "c": [1]}\n```\nThanks.';
      expect(extractJsonObject(text)).toEqual({ a: { b: 'x}y' }, c: [1] });
    });

    it('skips braces that are not JSON', () => {
      expect(extractJsonObject('Use {placeholders} like {this}; result: {"ok": true}')).toEqual({
        ok: true,
      });
    });

    it('returns null when there is no JSON object', () => {
      expect(extractJsonObject('I cannot diagnose this.')).toBeNull();
      expect(extractJsonObject('[1, 2, 3]')).toBeNull();
      expect(extractJsonObject('{"truncated": "answ')).toBeNull();
    });
  });

  describe(diagnosisFromText.name, () => {
    it('finds the diagnosis in prose and a fence', () => {
      const text = `Analysis below.\n\n\`\`\`json\n${JSON.stringify(validDiagnosis, null, 2)}\n\`\`\``;
      expect(diagnosisFromText(text)).toEqual(validDiagnosis);
    });

    it('looks through a wrapper object', () => {
      const text = JSON.stringify({ name: 'report_diagnosis', input: validDiagnosis });
      expect(diagnosisFromText(text)).toEqual(validDiagnosis);
    });

    it('returns null for JSON that is not a diagnosis', () => {
      expect(diagnosisFromText('{"summary": "only a summary"}')).toBeNull();
    });
  });
});
