import { Injectable, Logger } from '@nestjs/common';
import { PostalClient } from 'src/infra/postal/postal.client';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { BounceOutcome, EmailStateService } from 'src/modules/emails/email-state.service';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { classifyBounce } from 'src/modules/webhooks/bounce-classifier';

type Payload = Record<string, unknown>;
type Target = NonNullable<Awaited<ReturnType<EmailStateService['find']>>>;

export interface ProcessOptions {
  source: 'postal' | 'sandbox';
  /** The sandbox already knows the message; Postal events are matched from their payload. */
  target?: Target;
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

/** Postal's delivery fields we keep with an event (SPEC §7). */
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
 * What each Postal event means for a message (SPEC §7). Postal's webhooks and the sandbox
 * simulator both come through here, so both run the same classifier and transitions.
 */
@Injectable()
export class PostalEventsService {
  private readonly logger = new Logger(PostalEventsService.name);

  constructor(
    private readonly state: EmailStateService,
    private readonly rateControl: RateControlService,
    private readonly postal: PostalClient,
    private readonly diagnostics: DiagnosticsService,
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
    const target =
      opts.target ??
      (await this.state.find({
        postalId:
          typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null,
        token: str(message.token),
        postalMessageId: str(message.message_id),
      }));
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
        // SPEC §9.5: a 421 or throttling deferral halves the domain's rate for an hour.
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
      case 'MessageDeliveryFailed': {
        const c = classifyBounce({ output: str(payload.output), details: str(payload.details) });
        return {
          outcome: await this.state.markBounced(target, c, deliveryDetails(payload, source)),
        };
      }
      case 'MessageBounced': {
        const bounce = obj(payload.bounce);
        const b = await this.classifyBounceMessage(bounce, payload);
        const details = {
          source,
          bounce_id: bounce.id ?? null,
          output: str(payload.bounce_text) ?? null,
        };
        return { outcome: await this.state.markBounced(target, b, details) };
      }
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
   * MessageBounced: Postal does not parse the bounce, so its text is fetched and classified;
   * unavailable → soft with reason `unknown` (SPEC §7). The sandbox passes the text inline.
   */
  private async classifyBounceMessage(bounce: Payload, payload: Payload): Promise<BounceOutcome> {
    const inline = str(payload.bounce_text);
    if (inline) return classifyBounce({ text: inline });
    const id = Number(scalar(bounce.id, 'NaN'));
    if (!Number.isFinite(id) || !this.postal.configured) return unknownSoft();
    try {
      const message = await this.postal.getMessage(id, ['plain_body']);
      const text = str(message.plain_body);
      return text ? classifyBounce({ text }) : unknownSoft();
    } catch (err) {
      this.logger.warn(`bounce ${id} not fetched: ${(err as Error).message}`);
      return unknownSoft();
    }
  }

  /** DomainDNSError / SendLimitApproaching / SendLimitExceeded → a diagnostic report. */
  private async serverEvent(event: string, payload: Payload): Promise<ProcessResult> {
    const server = obj(payload.server);
    const serverName = str(server.name) ?? str(server.permalink) ?? 'the Postal server';
    if (event === 'DomainDNSError') {
      const domain = obj(payload.domain);
      const name = str(domain.name) ?? 'unknown domain';
      const problems = ['spf', 'dkim', 'mx', 'return_path']
        .map((k) => [k, str(domain[`${k}_status`]), str(domain[`${k}_error`])] as const)
        .filter(([, status]) => status && status !== 'OK');
      await this.diagnostics.upsertOpenReport({
        fingerprint: `postal:DomainDNSError:${name}`.slice(0, 128),
        reportType: 'anomaly',
        severity: 'critical',
        summary: `Postal reports DNS problems for ${name}${problems.length ? `: ${problems.map(([k]) => k.toUpperCase()).join(', ')}` : ''}`,
        anomalies: [
          {
            type: 'postal_dns_error',
            domain: name,
            problems: problems.map(([k, s, e]) => ({ record: k, status: s, error: e ?? null })),
          },
        ],
        context: { event, server: serverName, domain },
        recommendedActions: [
          `Fix the DNS records Postal lists for ${name} (SPF, DKIM, MX, return path) and re-check them in Postal`,
          'Expect bounces and spam-folder placement until the records verify',
        ],
        urgency: 'high',
        shouldPauseSending: false,
      });
      return { outcome: 'report' };
    }
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

function unknownSoft(): BounceOutcome {
  return { bounce_type: 'soft', bounce_reason: 'unknown', smtp_code: null, enhanced_code: null };
}
