import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  PostalApiError,
  PostalClient,
  PostalUnavailableError,
} from 'src/infra/postal/postal.client';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { BounceOutcome, EmailStateService } from 'src/modules/emails/email-state.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { BounceInput, classifyBounce } from 'src/modules/emails/lifecycle/postal/bounce-classifier';
import {
  parseBounceMessage,
  ParsedBounce,
} from 'src/modules/emails/lifecycle/postal/bounce-message';

import type { PostalEventSource } from 'src/common/ports/postal-event-ingress';

type Payload = Record<string, unknown>;
type Target = NonNullable<Awaited<ReturnType<EmailStateService['find']>>>;

export interface ProcessOptions {
  /**
   * Who produced the event: Postal's webhook, or the sandbox transport, which produces the
   * same Postal-format events through the same ingestion path (docs/ARCHITECTURE.md).
   */
  source: PostalEventSource;
  /**
   * The webhook job's last attempt: a retryable failure (Postal unreachable while fetching a
   * bounce) falls back to the webhook's own fields instead of throwing, so no event is lost.
   */
  finalAttempt?: boolean;
}

export interface ProcessResult {
  outcome: string;
  /** Stored on the webhook event: `unknown_message`, `unsupported_event`, … */
  error?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
/** A scalar as text; anything else (an object whose toString is not a function…) is `fallback`. */
const scalar = (v: unknown, fallback: string): string =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : fallback;
const obj = (v: unknown): Payload =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Payload) : {};

/**
 * HardFails that Postal decides itself, with no SMTP exchange (`output` is empty); `details` is
 * Postal's text, cut at 250 characters (lib/postal/message_db/delivery.rb). Each is final:
 * Postal removed the message from its queue and a resend would fail the same way.
 * - app/lib/message_dequeuer/single_message_processor.rb `check_delivery_attempts`: after
 *   `default_maximum_delivery_attempts` (18); Postal also puts the recipient on its own
 *   suppression list for `default_suppression_list_automatic_removal_days` (30).
 * - app/lib/message_dequeuer/outgoing_message_processor.rb `fail_if_spam`, `check_domain`,
 *   `check_rcpt_to`; single_message_processor.rb invalid scope.
 */
const POSTAL_MAX_ATTEMPTS = /^Maximum number of delivery attempts \(\d+\) has been reached/;
const POSTAL_SPAM = /^Message is likely spam\. Threshold is /;
const POSTAL_OWN_FINAL = [
  /^Message's domain no longer exist/,
  /^Message doesn't have an RCPT to/,
  /^Scope \S* ?is not valid/,
];
/** outgoing_message_processor.rb `add_recipient_to_suppression_list_on_too_many_hard_fails`. */
const POSTAL_SUPPRESSED_HARD_FAILS = /Recipient added to suppression list \(too many hard fails\)/;

/** Postal API errors worth retrying the webhook job for (like the delivery worker does). */
const RETRYABLE_POSTAL_CODES = new Set(['InvalidServerAPIKey', 'AccessDenied', 'ServerSuspended']);

/** Postal's delivery fields we keep with an event (README "How mail flows"). */
function deliveryDetails(p: Payload, source: string): Record<string, unknown> {
  return {
    source,
    status: str(p.status) ?? null,
    output: str(p.output) ?? null,
    details: str(p.details) ?? null,
    sent_with_ssl: typeof p.sent_with_ssl === 'boolean' ? p.sent_with_ssl : null,
    time: typeof p.time === 'number' ? p.time : null,
  };
}

/**
 * What each Postal event means for a message (README "How mail flows", outcomes;
 * docs/ARCHITECTURE.md "Postal events"). The webhooks module verifies, stores and queues
 * Postal's webhooks and hands each stored event over to `process`; the sandbox transport's
 * events come the same way, so both run the same classifier and transitions.
 */
@Injectable()
export class PostalEventsService {
  private readonly logger = new Logger(PostalEventsService.name);

  constructor(
    private readonly state: EmailStateService,
    private readonly rateControl: RateControlService,
    private readonly postal: PostalClient,
    private readonly diagnostics: DiagnosticsService,
    private readonly config: AppConfig,
  ) {}

  async process(event: string, payload: Payload, opts: ProcessOptions): Promise<ProcessResult> {
    switch (event) {
      case 'DomainDNSError':
      case 'SendLimitApproaching':
      case 'SendLimitExceeded':
        return this.serverEvent(event, payload);
      case 'MessageSent':
      case 'MessageDelayed':
      case 'MessageDeliveryFailed':
      case 'MessageHeld':
      case 'MessageBounced':
      case 'MessageLinkClicked':
      case 'MessageLoaded':
        break;
      default:
        return { outcome: 'ignored', error: 'unsupported_event' };
    }
    const message = obj(event === 'MessageBounced' ? payload.original_message : payload.message);
    const target = await this.state.find({
      postalId:
        typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null,
      token: str(message.token),
      postalMessageId: str(message.message_id),
    });
    if (!target) return { outcome: 'unmatched', error: 'unknown_message' };
    const source = opts.source;

    switch (event) {
      case 'MessageSent':
        return {
          outcome: (await this.state.markDelivered(target, deliveryDetails(payload, source)))
            ? 'delivered'
            : 'stale',
        };
      case 'MessageHeld':
        return {
          outcome: (await this.state.markHeld(target, deliveryDetails(payload, source)))
            ? 'held'
            : 'stale',
        };
      case 'MessageDelayed': {
        const details = deliveryDetails(payload, source);
        const c = classifyBounce({ output: str(payload.output), details: str(payload.details) });
        const recorded = await this.state.recordDeferral(target, {
          ...details,
          smtp_code: c.smtp_code,
          enhanced_code: c.enhanced_code,
        });
        // README "How mail flows": a 421 or throttling deferral halves the domain's rate for an hour.
        if (c.bounce_reason === 'rate_limited' || c.smtp_code === '421') {
          const factor = await this.rateControl.reduceRate(target.recipientDomain);
          this.logger.warn(
            { domain: target.recipientDomain, factor },
            'deferral: domain rate reduced',
          );
          return { outcome: recorded ? 'delayed_rate_reduced' : 'stale_rate_reduced' };
        }
        return { outcome: recorded ? 'delayed' : 'stale' };
      }
      case 'MessageDeliveryFailed':
        return this.deliveryFailed(target, payload, source);
      case 'MessageBounced':
        return this.bounced(target, obj(payload.bounce), message, opts);
      case 'MessageLinkClicked':
        await this.state.recordEngagement(target, 'clicked', {
          source,
          url: str(payload.url) ?? null,
          ip: str(payload.ip_address) ?? null,
          user_agent: str(payload.user_agent) ?? null,
        });
        return { outcome: 'clicked' };
      default:
        await this.state.recordEngagement(target, 'opened', {
          source,
          ip: str(payload.ip_address) ?? null,
          user_agent: str(payload.user_agent) ?? null,
        });
        return { outcome: 'opened' };
    }
  }

  /**
   * MessageDeliveryFailed (a HardFail). Postal's own final failures (see POSTAL_MAX_ATTEMPTS)
   * make the message `failed`, never retried; the rest go through the bounce classifier. When
   * Postal has put the address on its own suppression list, a resend would only be held: it is
   * not retried and the suppression is mirrored here with Postal's expiry.
   */
  private async deliveryFailed(
    target: Target,
    payload: Payload,
    source: string,
  ): Promise<ProcessResult> {
    const details = str(payload.details) ?? '';
    const event = deliveryDetails(payload, source);
    const postalFinal = (reason: BounceOutcome['bounce_reason']): BounceOutcome => ({
      bounce_type: 'soft',
      bounce_reason: reason,
      smtp_code: null,
      enhanced_code: null,
    });
    if (POSTAL_MAX_ATTEMPTS.test(details)) {
      const failed = await this.state.markFailed(target, postalFinal('expired'), details, event);
      // Postal adds every outgoing recipient that reached the maximum (suppression_list.rb).
      await this.mirrorPostalSuppression(target, 'too many soft fails', details);
      return { outcome: failed ? 'failed_expired' : 'stale' };
    }
    if (POSTAL_SPAM.test(details)) {
      const failed = await this.state.markFailed(
        target,
        postalFinal('spam_detected'),
        details,
        event,
      );
      if (failed) await this.reportOutboundSpam(target, details);
      return { outcome: failed ? 'failed_spam' : 'stale' };
    }
    if (POSTAL_OWN_FINAL.some((p) => p.test(details))) {
      const failed = await this.state.markFailed(
        target,
        postalFinal('system_error'),
        details,
        event,
      );
      return { outcome: failed ? 'failed' : 'stale' };
    }
    const c = classifyBounce({ output: str(payload.output), details: str(payload.details) });
    const suppressedByPostal = POSTAL_SUPPRESSED_HARD_FAILS.test(details);
    const outcome = await this.state.markBounced(target, c, event, {
      retry: !suppressedByPostal,
    });
    if (suppressedByPostal && c.bounce_type === 'soft') {
      await this.mirrorPostalSuppression(target, 'too many hard fails', details);
    }
    return { outcome };
  }

  /** Postal's suppression entry, mirrored with its expiry (POSTAL_SUPPRESSION_DAYS). */
  private async mirrorPostalSuppression(
    target: Target,
    postalReason: string,
    details: string,
  ): Promise<void> {
    const days = this.config.postal.suppressionDays;
    await this.state.suppressLikeProvider(target, {
      source: 'postal',
      details: `Postal suppression list (${postalReason}) for ${days} days: ${details}`,
      expiresInS: days * 24 * 3600,
    });
  }

  /** Postal's outbound spam threshold failures are counted in one open report. */
  private async reportOutboundSpam(target: Target, details: string): Promise<void> {
    await this.diagnostics.upsertOpenReport({
      fingerprint: 'postal:OutboundSpam',
      reportType: 'anomaly',
      severity: 'warning',
      summary: 'Postal failed messages over its outbound spam threshold',
      countAs: 'failures',
      anomalies: [
        {
          type: 'postal_outbound_spam',
          last_message_id: target.messageId,
          campaign_id: target.campaignId,
          details,
        },
      ],
      context: { event: 'MessageDeliveryFailed', last_details: details },
      recommendedActions: [
        'Review the content of the failed messages (links, wording, HTML-only bodies): Postal scored them as spam',
        'Those messages are failed and not retried; fix the content and send again',
      ],
      urgency: 'medium',
      shouldPauseSending: false,
    });
  }

  /**
   * MessageBounced: Postal does not parse the bounce, so the bounce is fetched as Postal stored
   * it (its message API's raw message), read as MIME, and classified from the per-recipient DSN
   * fields, falling back to its text. Unavailable → the webhook's own fields (soft, `unknown`);
   * Postal unreachable → the job is retried, except on its last attempt.
   */
  private async bounced(
    target: Target,
    bounce: Payload,
    original: Payload,
    opts: ProcessOptions,
  ): Promise<ProcessResult> {
    const bounceId = bounce.id ?? null;
    const parsed = await this.fetchBounce(bounce, str(original.to) ?? target.recipient, opts);
    const dsn = parsed?.dsn ?? null;
    const base: Record<string, unknown> = {
      source: opts.source,
      bounce_id: bounceId,
      bounce_subject: str(bounce.subject) ?? parsed?.subject ?? null,
    };
    if (!parsed || (!dsn && !parsed.text)) {
      const subject = str(bounce.subject) ?? parsed?.subject ?? 'bounce';
      const why = parsed ? 'no readable content' : 'not available from Postal';
      const output = `${subject} (Postal message ${scalar(bounceId, '?')}; ${why})`;
      return {
        outcome: await this.state.markBounced(target, unknownSoft(), { ...base, output }),
      };
    }
    const dsnFields = dsn
      ? {
          dsn_status: dsn.status,
          dsn_action: dsn.action,
          remote_mta: dsn.remoteMta,
          diagnostic_code: dsn.diagnosticCode,
        }
      : {};
    if (dsn?.action === 'delayed') {
      // A delay notice: the remote server still retries (RFC 3464 §2.3.3) — not a bounce.
      const recorded = await this.state.recordDeferral(target, {
        ...base,
        ...dsnFields,
        output: diagnosticOf(parsed),
      });
      return { outcome: recorded ? 'delayed' : 'stale' };
    }
    if (dsn && ['delivered', 'relayed', 'expanded'].includes(dsn.action ?? '')) {
      return { outcome: 'ignored', error: 'dsn_not_a_failure' };
    }
    const input: BounceInput = dsn
      ? {
          status: dsn.status,
          diagnosticCode: dsn.diagnosticCode,
          action: dsn.action,
          remoteMta: dsn.remoteMta,
          text: parsed.text,
        }
      : { text: parsed.text };
    const c = classifyBounce(input);
    return {
      outcome: await this.state.markBounced(target, c, {
        ...base,
        ...dsnFields,
        output: diagnosticOf(parsed),
      }),
    };
  }

  /** The stored bounce, parsed; null when Postal has none (or is not configured). */
  private async fetchBounce(
    bounce: Payload,
    recipient: string,
    opts: ProcessOptions,
  ): Promise<ParsedBounce | null> {
    const id = Number(scalar(bounce.id, 'NaN'));
    if (!Number.isSafeInteger(id) || id <= 0 || !this.postal.configured) return null;
    let raw: Buffer | null;
    try {
      raw = await this.postal.getRawMessage(id);
    } catch (err) {
      const retryable =
        err instanceof PostalUnavailableError ||
        (err instanceof PostalApiError && RETRYABLE_POSTAL_CODES.has(err.code));
      if (retryable && !opts.finalAttempt) throw err; // BullMQ retries the job with backoff
      this.logger.warn(`bounce ${id} not fetched: ${(err as Error).message}`);
      return null;
    }
    return raw ? parseBounceMessage(raw, recipient) : null;
  }

  /**
   * DomainDNSError (app/models/concerns/has_dns_checks.rb `check_dns`): `domain` is the
   * domain's name and each check's `<record>_status` / `<record>_error` sit at the top level of
   * the payload. One open report per domain, naming each failing record with Postal's error.
   * Failing is Postal's own rule (`dns_ok?`): SPF and DKIM must be OK; MX and return path may
   * also be Missing.
   */
  private async domainDnsError(payload: Payload, serverName: string): Promise<ProcessResult> {
    const name =
      str(payload.domain)?.trim().toLowerCase().slice(0, 253) ??
      (str(payload.uuid) ? `domain ${str(payload.uuid)!.slice(0, 64)}` : 'unknown domain');
    const records = [
      { key: 'spf', label: 'SPF', okay: ['OK'] },
      { key: 'dkim', label: 'DKIM', okay: ['OK'] },
      { key: 'mx', label: 'MX', okay: ['OK', 'Missing'] },
      { key: 'return_path', label: 'return path', okay: ['OK', 'Missing'] },
    ].map((r) => ({
      ...r,
      status: str(payload[`${r.key}_status`])?.slice(0, 64) ?? null,
      error: str(payload[`${r.key}_error`])?.slice(0, 500) ?? null,
    }));
    const failing = records.filter((r) => r.status !== null && !r.okay.includes(r.status));
    const notes = records.filter(
      (r) => r.status !== null && r.status !== 'OK' && r.okay.includes(r.status),
    );
    const describe = (r: (typeof records)[number]) =>
      `${r.label} ${r.status}${r.error ? ` (${r.error})` : ''}`;
    await this.diagnostics.upsertOpenReport({
      fingerprint: `postal:DomainDNSError:${name}`.slice(0, 128),
      reportType: 'anomaly',
      severity: 'critical',
      summary: `Postal reports DNS problems for ${name}${
        failing.length ? `: ${failing.map(describe).join('; ')}` : ''
      }`.slice(0, 2000),
      anomalies: [
        {
          type: 'postal_dns_error',
          domain: name,
          problems: failing.map((r) => ({ record: r.key, status: r.status, error: r.error })),
          notes: notes.map((r) => ({ record: r.key, status: r.status, error: r.error })),
        },
      ],
      context: {
        event: 'DomainDNSError',
        server: serverName,
        domain: name,
        dns_checked_at: typeof payload.dns_checked_at === 'number' ? payload.dns_checked_at : null,
        checks: Object.fromEntries(
          records.map((r) => [r.key, { status: r.status, error: r.error }]),
        ),
      },
      recommendedActions: [
        ...failing.map(
          (r) =>
            `${r.label} of ${name}: ${r.error ?? r.status} — fix the record in DNS, then re-check the domain in Postal`,
        ),
        'Expect bounces and spam-folder placement until the records verify',
      ],
      urgency: 'high',
      shouldPauseSending: false,
    });
    return { outcome: 'report' };
  }

  /** DomainDNSError / SendLimitApproaching / SendLimitExceeded → a diagnostic report. */
  private async serverEvent(event: string, payload: Payload): Promise<ProcessResult> {
    const server = obj(payload.server);
    const serverName = str(server.name) ?? str(server.permalink) ?? 'the Postal server';
    if (event === 'DomainDNSError') return this.domainDnsError(payload, serverName);
    const exceeded = event === 'SendLimitExceeded';
    await this.diagnostics.upsertOpenReport({
      fingerprint: `postal:${event}:${serverName}`.slice(0, 128),
      reportType: 'anomaly',
      severity: exceeded ? 'critical' : 'warning',
      summary: `${serverName} ${exceeded ? 'has exceeded' : 'is approaching'} its Postal send limit (${scalar(payload.volume, '?')} of ${scalar(payload.limit, '?')})`,
      anomalies: [
        {
          type: exceeded ? 'send_limit_exceeded' : 'send_limit_approaching',
          volume: payload.volume ?? null,
          limit: payload.limit ?? null,
        },
      ],
      context: { event, server: serverName },
      recommendedActions: exceeded
        ? [
            'Raise the send limit in Postal or wait for the window to pass; Postal holds messages meanwhile',
          ]
        : ['Raise the send limit in Postal or slow down large campaigns'],
      urgency: exceeded ? 'high' : 'medium',
      shouldPauseSending: false,
    });
    return { outcome: 'report' };
  }
}

/** The real diagnostic of a bounce: its DSN Diagnostic-Code, else the telling line of its text. */
function diagnosticOf(parsed: ParsedBounce): string | null {
  const d = parsed.dsn;
  if (d?.diagnosticCode) return d.diagnosticCode;
  const lines = (parsed.text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const telling = lines.find((l) =>
    /^<[^>]+>:|\b[245]\d\d[ -]|\b[245]\.\d{1,3}\.\d{1,3}\b/.test(l),
  );
  const text = telling ?? lines.join(' ').slice(0, 500);
  if (d?.status) return text ? `Status ${d.status}: ${text}` : `Status ${d.status}`;
  return text || parsed.subject;
}

function unknownSoft(): BounceOutcome {
  return { bounce_type: 'soft', bounce_reason: 'unknown', smtp_code: null, enhanced_code: null };
}
