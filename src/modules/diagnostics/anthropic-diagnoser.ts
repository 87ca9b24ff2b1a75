import Anthropic, { APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type { Message, Tool } from '@anthropic-ai/sdk/resources/messages';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  buildDiagnosisPrompt,
  Diagnosis,
  DIAGNOSIS_LIMITS,
  DIAGNOSIS_SYSTEM_PROMPT,
  DIAGNOSIS_TOOL_NAME,
  diagnosisFromText,
  DiagnosisInput,
  parseDiagnosis,
  redactAddresses,
  URGENCIES,
} from 'src/modules/diagnostics/diagnosis-prompt';

export {
  buildDiagnosisPrompt,
  DIAGNOSIS_TOOL_NAME,
  parseDiagnosis,
  redactAddresses,
} from 'src/modules/diagnostics/diagnosis-prompt';
export type {
  Anomaly,
  Diagnosis,
  DiagnosisInput,
  Urgency,
} from 'src/modules/diagnostics/diagnosis-prompt';

export type DiagnosisFailure =
  'no_key' | 'timeout' | 'rate_limited' | 'api_error' | 'unusable_answer';

export type DiagnosisResult =
  | { ok: true; diagnosis: Diagnosis; source: 'tool' | 'text'; model: string }
  | { ok: false; reason: DiagnosisFailure; detail: string };

/** A diagnosis waits at most this long for the model. */
export const DIAGNOSIS_TIMEOUT_MS = 30_000;
export const DIAGNOSIS_MAX_TOKENS = 1500;

export interface AnthropicDiagnoserOptions {
  /** Overrides the 30 s request timeout (tests use ~1 s). */
  timeoutMs?: number;
}

/** Optional provider token for `AnthropicDiagnoserOptions`; absent in the app. */
export const ANTHROPIC_DIAGNOSER_OPTIONS = Symbol('ANTHROPIC_DIAGNOSER_OPTIONS');

export const DIAGNOSIS_TOOL: Tool = {
  name: DIAGNOSIS_TOOL_NAME,
  description:
    'Report the diagnosis of the delivery anomalies to the operator: what is wrong, why, ' +
    'and what to do about it.',
  input_schema: {
    type: 'object',
    properties: {
      summary: {
        type: 'string',
        description: 'One or two sentences for a chat alert.',
      },
      root_cause: {
        type: 'string',
        description: 'The most likely root cause, grounded in the data.',
      },
      analysis: {
        type: 'string',
        description: 'The reasoning: which domains, errors and rates point to the cause.',
      },
      actions: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        maxItems: DIAGNOSIS_LIMITS.actions,
        description: 'Concrete operator actions, most urgent first.',
      },
      should_pause_sending: {
        type: 'boolean',
        description: 'True if sending should be paused to protect the sender reputation.',
      },
      urgency: { type: 'string', enum: [...URGENCIES] },
    },
    required: ['summary', 'root_cause', 'analysis', 'actions', 'should_pause_sending', 'urgency'],
  },
};

const MAX_DETAIL = 500;

function clip(text: string): string {
  const s = redactAddresses(text).replace(/\s+/g, ' ').trim();
  return s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL - 1)}…` : s;
}

/**
 * The AI diagnosis of an anomalous hour (README "Alerts"): one Messages API call that forces the
 * `report_diagnosis` tool. Never throws: without a key, on an API error or timeout, or on an
 * answer that is not a valid diagnosis it returns `{ ok: false, reason }` and the caller
 * writes the fallback report. No SDK retries: the queue retries jobs, and a diagnosis must
 * not take minutes.
 */
@Injectable()
export class AnthropicDiagnoser {
  private readonly logger = new Logger(AnthropicDiagnoser.name);
  private readonly client?: Anthropic;
  private readonly model: string;
  private readonly timeoutMs: number;

  constructor(
    config: AppConfig,
    @Optional() @Inject(ANTHROPIC_DIAGNOSER_OPTIONS) options?: AnthropicDiagnoserOptions,
  ) {
    this.model = config.anthropic.model;
    this.timeoutMs = options?.timeoutMs ?? DIAGNOSIS_TIMEOUT_MS;
    const { apiKey, baseUrl } = config.anthropic;
    if (apiKey) {
      this.client = new Anthropic({
        apiKey,
        // null, not undefined: the SDK would otherwise read ANTHROPIC_BASE_URL itself.
        baseURL: baseUrl ?? null,
        timeout: this.timeoutMs,
        maxRetries: 0,
      });
    }
  }

  /** True when ANTHROPIC_API_KEY is set. */
  get configured(): boolean {
    return this.client !== undefined;
  }

  async diagnose(input: DiagnosisInput): Promise<DiagnosisResult> {
    const started = Date.now();
    let result: DiagnosisResult;
    let message: Message | undefined;
    if (!this.client) {
      result = { ok: false, reason: 'no_key', detail: 'ANTHROPIC_API_KEY is not set' };
    } else {
      try {
        message = await this.client.messages.create({
          model: this.model,
          max_tokens: DIAGNOSIS_MAX_TOKENS,
          system: DIAGNOSIS_SYSTEM_PROMPT,
          messages: [{ role: 'user', content: buildDiagnosisPrompt(input) }],
          tools: [DIAGNOSIS_TOOL],
          tool_choice: { type: 'tool', name: DIAGNOSIS_TOOL_NAME },
        });
        result = this.interpret(message);
      } catch (err) {
        result = this.failure(err);
      }
    }
    this.logOutcome(result, Date.now() - started, message);
    return result;
  }

  private interpret(message: Message): DiagnosisResult {
    const model = typeof message.model === 'string' && message.model ? message.model : this.model;
    const content = Array.isArray(message.content) ? message.content : [];
    let problem = `no ${DIAGNOSIS_TOOL_NAME} tool call and no JSON diagnosis in the text`;

    const toolUse = content.find((b) => b.type === 'tool_use' && b.name === DIAGNOSIS_TOOL_NAME);
    if (toolUse && toolUse.type === 'tool_use') {
      const diagnosis = parseDiagnosis(toolUse.input);
      if (diagnosis) return { ok: true, diagnosis, source: 'tool', model };
      problem = `the ${DIAGNOSIS_TOOL_NAME} input is not a valid diagnosis`;
    }

    const text = content
      .map((b) => (b.type === 'text' ? b.text : ''))
      .filter(Boolean)
      .join('\n');
    const fromText = text ? diagnosisFromText(text) : null;
    if (fromText) return { ok: true, diagnosis: fromText, source: 'text', model };

    return {
      ok: false,
      reason: 'unusable_answer',
      detail: clip(`${problem} (stop_reason ${String(message.stop_reason)})`),
    };
  }

  private failure(err: unknown): DiagnosisResult {
    if (err instanceof APIConnectionTimeoutError) {
      return { ok: false, reason: 'timeout', detail: `no answer within ${this.timeoutMs} ms` };
    }
    if (err instanceof APIError) {
      const requestId = err.requestID ? ` (request-id ${err.requestID})` : '';
      const what = err.status
        ? `HTTP ${err.status}${err.type ? ` ${err.type}` : ''}: ${err.apiMessage ?? err.message}`
        : err.message;
      const reason = err.status === 429 ? 'rate_limited' : 'api_error';
      return { ok: false, reason, detail: clip(`${what}${requestId}`) };
    }
    // AnthropicError (e.g. a client-side refusal) or anything unexpected.
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, reason: 'api_error', detail: clip(text) };
  }

  private logOutcome(result: DiagnosisResult, durationMs: number, message?: Message): void {
    const fields = {
      model: result.ok ? result.model : this.model,
      outcome: result.ok ? `ok_${result.source}` : result.reason,
      duration_ms: durationMs,
      ...(message?.usage
        ? {
            input_tokens: message.usage.input_tokens,
            output_tokens: message.usage.output_tokens,
          }
        : {}),
      ...(result.ok ? {} : { detail: result.detail }),
    };
    if (result.ok) this.logger.log(fields, 'AI diagnosis done');
    else if (result.reason === 'no_key') this.logger.log(fields, 'AI diagnosis skipped');
    else this.logger.warn(fields, 'AI diagnosis failed');
  }
}
