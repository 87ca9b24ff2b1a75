import { Injectable } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { sourcesFor } from 'src/modules/emails/lifecycle/transitions';
import {
  EventTarget,
  MessageMatch,
  MessageReadsRepository,
} from 'src/modules/emails/message-reads.repository';
import { MessageWritesRepository } from 'src/modules/emails/message-writes.repository';

export type { EventTarget, MessageMatch };

export interface BounceOutcome {
  bounce_type: 'hard' | 'soft';
  bounce_reason: string;
  smtp_code: string | null;
  enhanced_code: string | null;
}

export type BounceResult = 'hard' | 'retry_scheduled' | 'bounced' | 'ignored';

/** README "How mail flows", 4: soft bounces are retried after 1 h, 4 h and 24 h, then left bounced. */
export const SOFT_BOUNCE_RETRY_DELAYS_S = [3600, 4 * 3600, 24 * 3600];

/** A deferral is recorded only while the message is in flight (the statuses `delivered` may leave). */
const IN_FLIGHT = sourcesFor('delivered');

/**
 * The state transitions driven by delivery outcomes (docs/ARCHITECTURE.md "Message
 * lifecycle"). Postal webhooks, the sandbox and the complaints API all go through these, so
 * they behave the same. Each names a cause of the transition table (lifecycle/transitions.ts),
 * which decides the statuses it may leave: late or repeated events never move a message
 * backwards. Every change is published after it commits (lifecycle/transition-publisher.ts).
 */
@Injectable()
export class EmailStateService {
  constructor(
    private readonly logs: MessageReadsRepository,
    private readonly writes: MessageWritesRepository,
    private readonly transitions: TransitionsRepository,
    private readonly blacklist: BlacklistService,
    private readonly diagnostics: DiagnosticsService,
    private readonly config: AppConfig,
  ) {}

  find(match: MessageMatch): Promise<EventTarget | null> {
    return this.logs.findForEvent(match);
  }

  /** The newest message that left for this address, for complaints given by address only. */
  async findLatestForRecipient(email: string): Promise<EventTarget | null> {
    const messageId = await this.logs.latestSentTo(email);
    return messageId ? this.logs.findForEvent({ messageId }) : null;
  }

  /** An open or click (tracking pixel/link, or Postal's MessageLoaded/MessageLinkClicked). */
  recordEngagement(
    t: EventTarget,
    type: 'opened' | 'clicked',
    details: Record<string, unknown>,
  ): Promise<boolean> {
    return this.writes.recordEngagement(t.messageId, type, details);
  }

  /** MessageSent. */
  markDelivered(t: EventTarget, details: Record<string, unknown>): Promise<boolean> {
    return this.transitions.markDelivered(t.id, new Date(), details);
  }

  /** MessageHeld: Postal's own suppression list or send limit kept it. */
  markHeld(t: EventTarget, details: Record<string, unknown>): Promise<boolean> {
    return this.transitions.transition(t.id, 'held', {}, details);
  }

  /** MessageDelayed: Postal retries by itself, so only an event; never a resend. */
  async recordDeferral(t: EventTarget, details: Record<string, unknown>): Promise<boolean> {
    if (!IN_FLIGHT.includes(t.status)) return false;
    await this.writes.addEvent(t.id, 'delayed', details);
    return true;
  }

  /**
   * A bounce (MessageDeliveryFailed / MessageBounced): hard → `bounced` and suppressed;
   * soft → `bounced` then `retry_scheduled` (1 h, 4 h, 24 h; at most 3), never for hard.
   */
  async markBounced(
    t: EventTarget,
    b: BounceOutcome,
    details: Record<string, unknown>,
    opts: { retry?: boolean } = {},
  ): Promise<BounceResult> {
    const errorMessage = String(details.output ?? details.details ?? b.bounce_reason).slice(
      0,
      1000,
    );
    const set = {
      bounce_type: b.bounce_type,
      bounce_reason: b.bounce_reason,
      smtp_code: b.smtp_code,
      error_message: errorMessage,
    };
    const eventDetails = {
      ...details,
      bounce_type: b.bounce_type,
      bounce_reason: b.bounce_reason,
      smtp_code: b.smtp_code,
      enhanced_code: b.enhanced_code,
    };
    if (!(await this.transitions.transition(t.id, 'bounce', set, eventDetails))) return 'ignored';
    if (b.bounce_type === 'hard') {
      await this.blacklist.add({
        email: t.recipient,
        reason: 'hard_bounce',
        source: String(details.source ?? 'postal'),
        details: `${b.smtp_code ?? ''} ${b.enhanced_code ?? ''} ${errorMessage}`
          .trim()
          .slice(0, 500),
      });
      return 'hard';
    }
    const delayS = SOFT_BOUNCE_RETRY_DELAYS_S[t.retryCount];
    // `retry: false`: a resend could not succeed (e.g. Postal suppressed the address itself).
    if (delayS === undefined || opts.retry === false) return 'bounced';
    const nextRetryAt = new Date(Date.now() + delayS * 1000);
    await this.transitions.transition(
      t.id,
      'schedule_retry',
      { next_retry_at: nextRetryAt },
      { next_retry_at: nextRetryAt.toISOString(), retry: t.retryCount + 1 },
    );
    return 'retry_scheduled';
  }

  /**
   * A final failure decided by the provider itself (Postal's maximum delivery attempts, its
   * outbound spam threshold, …): `failed` with the reason, never retried (README "How mail
   * flows", outcomes). Only from an in-flight state: late events never move a message back.
   */
  markFailed(
    t: EventTarget,
    b: BounceOutcome,
    errorMessage: string,
    details: Record<string, unknown>,
  ): Promise<boolean> {
    const error = errorMessage.slice(0, 1000);
    return this.transitions.transition(
      t.id,
      'provider_failed',
      {
        bounce_type: b.bounce_type,
        bounce_reason: b.bounce_reason,
        smtp_code: b.smtp_code,
        error_message: error,
      },
      {
        ...details,
        error,
        bounce_type: b.bounce_type,
        bounce_reason: b.bounce_reason,
        enhanced_code: b.enhanced_code,
      },
    );
  }

  /**
   * Mirrors a suppression the provider added on its side (Postal's own suppression list), with
   * the provider's expiry, so the reason is visible here and sends are refused up front.
   */
  async suppressLikeProvider(
    t: EventTarget,
    s: { source: string; details: string; expiresInS: number },
  ): Promise<void> {
    await this.blacklist.add({
      email: t.recipient,
      reason: 'hard_bounce',
      source: s.source,
      details: s.details.slice(0, 500),
      expiresInS: s.expiresInS,
    });
  }

  /**
   * A complaint (API, ARF report, sandbox): `complained`, suppressed, then the campaign's
   * complaint rate is checked (README "How mail flows"). Idempotent.
   */
  async markComplained(t: EventTarget, details: Record<string, unknown>): Promise<boolean> {
    const changed = await this.transitions.transition(t.id, 'complaint', {}, details);
    await this.blacklist.add({
      email: t.recipient,
      reason: 'complaint',
      // README "Streams": the stream complained of, unless COMPLAINT_SUPPRESSION_SCOPE=all.
      scope: this.config.complaintSuppressionScope === 'all' ? 'all' : t.stream,
      source: String(details.source ?? 'complaint'),
    });
    if (changed && t.campaignId) await this.checkCampaignComplaintRate(t.campaignId);
    return changed;
  }

  /**
   * An opt-out (an ARF `opt-out` report): the recipient is suppressed as `unsubscribe` for the
   * message's stream (README "Streams") unless already suppressed for it, and one `unsubscribed` event is kept. The message's
   * status is unchanged: an opt-out is not a complaint.
   */
  async markUnsubscribed(t: EventTarget, details: Record<string, unknown>): Promise<boolean> {
    if (await this.blacklist.check(t.recipient, t.stream)) return false;
    await this.blacklist.add({
      email: t.recipient,
      reason: 'unsubscribe',
      scope: t.stream,
      source: String(details.source ?? 'unsubscribe'),
    });
    await this.writes.addEvent(t.id, 'unsubscribed', details);
    return true;
  }

  /** Over 0.1 % → warning, over 0.5 % → critical; only with COMPLAINT_MIN_VOLUME sent. */
  async checkCampaignComplaintRate(campaignId: string): Promise<void> {
    const { sent, complained } = await this.logs.campaignComplaintCounts(campaignId);
    if (sent < this.config.complaintMinVolume || sent === 0) return;
    const rate = (complained / sent) * 100;
    const severity = rate > 0.5 ? 'critical' : rate > 0.1 ? 'warning' : null;
    if (!severity) return;
    await this.diagnostics.upsertOpenReport({
      fingerprint: `campaign-complaint-rate:${campaignId}`.slice(0, 128),
      reportType: 'anomaly',
      severity,
      summary: `Campaign "${campaignId}" complaint rate is ${rate.toFixed(2)} % (${complained} of ${sent})`,
      anomalies: [
        {
          type: 'campaign_complaint_rate',
          campaign_id: campaignId,
          rate: Number(rate.toFixed(4)),
          threshold: severity === 'critical' ? 0.5 : 0.1,
          severity,
        },
      ],
      stats: { campaign_id: campaignId, sent, complained, complaint_rate: Number(rate.toFixed(4)) },
      recommendedActions: [
        'Pause this campaign and review how its recipients opted in',
        'Make the unsubscribe link prominent and honour List-Unsubscribe',
        'Remove inactive and unconfirmed addresses before the next send',
      ],
      shouldPauseSending: severity === 'critical',
      urgency: severity === 'critical' ? 'high' : 'medium',
    });
  }
}
