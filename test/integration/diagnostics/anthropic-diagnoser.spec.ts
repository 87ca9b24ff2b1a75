import { Test } from '@nestjs/testing';
import { AppConfig, DEFAULT_ANTHROPIC_MODEL, loadConfig } from 'src/config/app-config';
import {
  ANTHROPIC_DIAGNOSER_OPTIONS,
  AnthropicDiagnoser,
  DIAGNOSIS_TOOL_NAME,
  DiagnosisInput,
} from 'src/modules/diagnostics/anthropic-diagnoser';
import { FAKE_DIAGNOSIS, FakeAnthropic } from 'test/fakes/fake-anthropic';

/** The real 30 s would make the timeout test slow; the override is the constructor option. */
const TEST_TIMEOUT_MS = 800;

const input: DiagnosisInput = {
  hour: '2026-11-20T14:00:00.000Z',
  anomalies: [
    {
      type: 'bounce_rate',
      severity: 'critical',
      metric: 'bounce_rate',
      value: 12.75,
      threshold: 10,
      domain: 'gmail.com',
      message: 'Bounce rate 12.75 % at gmail.com',
    },
    {
      type: 'delivery_rate',
      severity: 'warning',
      metric: 'delivery_rate',
      value: 93.1,
      threshold: 95,
      domain: null,
      message: 'Delivery rate 93.1 % overall',
    },
  ],
  stats: { sent: 4812, delivered: 4137, bounced: 613, complained: 3, bounce_rate: 12.74 },
  topErrors: [
    { smtp_code: '550', message: '550 5.1.1 <john.doe@gmail.com>: user unknown', count: 411 },
    { smtp_code: '421', message: '421 4.7.0 deferred for bob+tag@sub.example.co.uk', count: 97 },
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
  ],
};

const validDiagnosis = {
  summary: 'Gmail rejects a stale list segment.',
  root_cause: 'Hard bounces (550 5.1.1) from an old import.',
  analysis: 'Most bounces are at gmail.com with user unknown.',
  actions: ['Pause the campaign to gmail.com', 'Re-verify the imported segment'],
  should_pause_sending: false,
  urgency: 'high' as const,
};

describe(AnthropicDiagnoser.name, () => {
  let fake: FakeAnthropic;

  const configFor = (env: Record<string, string> = {}): AppConfig =>
    loadConfig({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ...env });
  const diagnoser = (env: Record<string, string> = {}): AnthropicDiagnoser =>
    new AnthropicDiagnoser(configFor(env), { timeoutMs: TEST_TIMEOUT_MS });

  beforeEach(async () => {
    fake = await new FakeAnthropic().start();
  });

  afterEach(async () => {
    await fake.stop();
  });

  describe('diagnose', () => {
    it('forces the diagnosis tool and sends the model, the stats and no recipient address', async () => {
      await expect(
        diagnoser({ ANTHROPIC_MODEL: 'claude-test-1' }).diagnose(input),
      ).resolves.toMatchObject({
        ok: true,
      });

      expect(fake.requests).toHaveLength(1);
      const [req] = fake.requests;
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/v1/messages');
      expect(req.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const body = req.body!;
      expect(body.model).toBe('claude-test-1');
      expect(body.max_tokens).toBe(1500);
      expect(body.stream).toBeUndefined();
      expect(body.tool_choice).toEqual({ type: 'tool', name: DIAGNOSIS_TOOL_NAME });
      expect(body.tools).toHaveLength(1);
      expect(body.tools![0]).toMatchObject({
        name: DIAGNOSIS_TOOL_NAME,
        input_schema: {
          type: 'object',
          properties: {
            summary: { type: 'string' },
            root_cause: { type: 'string' },
            analysis: { type: 'string' },
            actions: { type: 'array', items: { type: 'string' } },
            should_pause_sending: { type: 'boolean' },
            urgency: { type: 'string', enum: ['low', 'medium', 'high', 'critical'] },
          },
        },
      });
      expect([...(body.tools![0].input_schema.required as string[])].sort()).toEqual([
        'actions',
        'analysis',
        'root_cause',
        'should_pause_sending',
        'summary',
        'urgency',
      ]);
      expect(typeof body.system).toBe('string');
      expect(body.messages).toHaveLength(1);
      expect(body.messages[0].role).toBe('user');
      const prompt = body.messages[0].content as string;
      expect(prompt).toContain('- sent: 4812');
      expect(prompt).toContain('- bounce_rate: 12.74');
      expect(prompt).toContain('411 × SMTP 550');
      expect(prompt).toContain('| gmail.com | 3208 | 2640 | 568 | 1 | 17.71 | 0.0312 |');
      expect(req.raw).not.toContain('john.doe@gmail.com');
      expect(req.raw).not.toContain('bob+tag@sub.example.co.uk');
      expect(req.raw).not.toMatch(/[\w.+-]+@[\w-]+\.[\w.-]+/);
    });

    it('uses the default Sonnet model when ANTHROPIC_MODEL is unset', async () => {
      await diagnoser().diagnose(input);

      expect(fake.bodies[0].model).toBe(DEFAULT_ANTHROPIC_MODEL);
    });

    it('returns the tool input as the diagnosis when the model calls the tool', async () => {
      fake.queueResponses({ kind: 'tool', input: validDiagnosis });

      await expect(diagnoser().diagnose(input)).resolves.toEqual({
        ok: true,
        source: 'tool',
        model: DEFAULT_ANTHROPIC_MODEL,
        diagnosis: validDiagnosis,
      });
    });

    it('reads the diagnosis from JSON in a text answer', async () => {
      fake.queueResponses({
        kind: 'text',
        text: `Here is the diagnosis:\n\`\`\`json\n${JSON.stringify(validDiagnosis, null, 2)}\n\`\`\`\nHope it helps.`,
      });

      await expect(diagnoser().diagnose(input)).resolves.toEqual({
        ok: true,
        source: 'text',
        model: DEFAULT_ANTHROPIC_MODEL,
        diagnosis: validDiagnosis,
      });
    });

    it('is an unusable answer when the text holds no JSON', async () => {
      fake.queueResponses({ kind: 'text', text: 'I am not able to diagnose this.' });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'unusable_answer',
        detail: expect.stringContaining('end_turn'),
      });
    });

    it('is an unusable answer when the tool input misses fields', async () => {
      const { urgency: _urgency, actions: _actions, ...partial } = validDiagnosis;
      fake.queueResponses({ kind: 'tool', input: partial });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'unusable_answer',
        detail: expect.stringContaining('not a valid diagnosis'),
      });
    });

    it('is an unusable answer when the model calls another tool', async () => {
      fake.queueResponses({ kind: 'tool', name: 'something_else', input: validDiagnosis });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'unusable_answer',
      });
    });

    it('is rate_limited on HTTP 429, without retrying', async () => {
      fake.queueResponses({ kind: 'error', type: 'rate_limit_error' });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'rate_limited',
        detail: expect.stringMatching(/^HTTP 429 rate_limit_error: .*\(request-id req_/),
      });
      expect(fake.requests).toHaveLength(1);
    });

    it('is an api_error on HTTP 500, without retrying', async () => {
      fake.queueResponses({ kind: 'error', type: 'api_error' });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'api_error',
        detail: expect.stringContaining('HTTP 500 api_error'),
      });
      expect(fake.requests).toHaveLength(1);
    });

    it('is an api_error when the API is overloaded (529)', async () => {
      fake.queueResponses({ kind: 'error', type: 'overloaded_error' });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'api_error',
        detail: expect.stringContaining('HTTP 529 overloaded_error'),
      });
      expect(fake.requests).toHaveLength(1);
    });

    it('is an api_error when the key is wrong (401)', async () => {
      await expect(
        diagnoser({ ANTHROPIC_API_KEY: 'sk-ant-wrong' }).diagnose(input),
      ).resolves.toMatchObject({
        ok: false,
        reason: 'api_error',
        detail: expect.stringContaining('HTTP 401 authentication_error'),
      });
      expect(fake.requests).toHaveLength(1);
      expect(JSON.stringify(fake.requests[0].headers)).toContain('sk-ant-wrong');
    });

    it('is an api_error when the API cannot be reached', async () => {
      const url = fake.url;
      await fake.stop();

      await expect(
        new AnthropicDiagnoser(
          loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-x', ANTHROPIC_BASE_URL: url }),
          { timeoutMs: TEST_TIMEOUT_MS },
        ).diagnose(input),
      ).resolves.toMatchObject({ ok: false, reason: 'api_error' });
    });

    it('times out on an answer slower than the timeout', async () => {
      fake.queueResponses({ kind: 'slow', ms: TEST_TIMEOUT_MS + 1_500 });

      const started = Date.now();
      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: false,
        reason: 'timeout',
      });
      expect(Date.now() - started).toBeLessThan(TEST_TIMEOUT_MS + 1_000);
      expect(fake.requests).toHaveLength(1);
    });

    it('still answers when a slow answer comes within the timeout', async () => {
      fake.queueResponses({
        kind: 'slow',
        ms: 100,
        then: { kind: 'tool', input: validDiagnosis },
      });

      await expect(diagnoser().diagnose(input)).resolves.toMatchObject({
        ok: true,
        diagnosis: validDiagnosis,
      });
    });

    it('is no_key without any request when ANTHROPIC_API_KEY is unset', async () => {
      const d = new AnthropicDiagnoser(loadConfig({ ANTHROPIC_BASE_URL: fake.url }));

      await expect(d.diagnose(input)).resolves.toEqual({
        ok: false,
        reason: 'no_key',
        detail: expect.any(String),
      });
      expect(d.configured).toBe(false);
      expect(fake.requests).toHaveLength(0);
    });

    it('never sends or logs the API key anywhere but the auth header', async () => {
      const logs: string[] = [];
      const spy = jest
        .spyOn(process.stdout, 'write')
        .mockImplementation((chunk: string | Uint8Array) => {
          logs.push(String(chunk));
          return true;
        });
      const errSpy = jest
        .spyOn(process.stderr, 'write')
        .mockImplementation((chunk: string | Uint8Array) => {
          logs.push(String(chunk));
          return true;
        });
      try {
        fake.queueResponses({ kind: 'error', type: 'authentication_error' });
        await diagnoser().diagnose(input);
      } finally {
        spy.mockRestore();
        errSpy.mockRestore();
      }

      expect(logs.join('')).toContain('AI diagnosis failed');
      expect(logs.join('')).not.toContain(fake.apiKey);
      expect(fake.requests[0].raw).not.toContain(fake.apiKey);
    });

    it('is built by Nest DI with the 30 s default when no options are provided', async () => {
      const moduleRef = await Test.createTestingModule({
        providers: [AnthropicDiagnoser, { provide: AppConfig, useValue: configFor() }],
      }).compile();
      const d = moduleRef.get(AnthropicDiagnoser);

      await expect(d.diagnose(input)).resolves.toMatchObject({
        ok: true,
        diagnosis: FAKE_DIAGNOSIS,
      });
      expect(fake.requests[0].headers['x-stainless-timeout']).toBe('30');
      await moduleRef.close();
    });

    it('takes the timeout from the options provider', async () => {
      const moduleRef = await Test.createTestingModule({
        providers: [
          AnthropicDiagnoser,
          { provide: AppConfig, useValue: configFor() },
          { provide: ANTHROPIC_DIAGNOSER_OPTIONS, useValue: { timeoutMs: 5_000 } },
        ],
      }).compile();

      await moduleRef.get(AnthropicDiagnoser).diagnose(input);

      expect(fake.requests[0].headers['x-stainless-timeout']).toBe('5');
      await moduleRef.close();
    });
  });
});
