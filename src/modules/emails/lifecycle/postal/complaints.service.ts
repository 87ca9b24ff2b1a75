import { Injectable } from '@nestjs/common';
import { NotFoundError, ValidationFailedError } from 'src/common/errors/app-error';
import { BlacklistService, normalizeEmail } from 'src/modules/blacklist/blacklist.service';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import {
  ArfComplaint,
  ArfParseError,
  parseInboundPostalReports,
  rawMessageOf,
} from 'src/modules/emails/lifecycle/postal/arf-parser';

/** `POST /api/v1/complaints` (its DTO lives with the route, in the webhooks module). */
export interface ComplaintInput {
  message_id?: string;
  email?: string;
  source?: string;
}

export interface ComplaintResult {
  email: string;
  message_id: string | null;
  complained: boolean;
  suppressed: boolean;
}

/** What a feedback report meant for our messages; the webhooks module stores it as such. */
export type ArfOutcome =
  | 'complained'
  | 'already_complained'
  | 'unsubscribed'
  | 'not_spam'
  | 'auth_failure'
  | 'unmatched'
  | 'recipient_mismatch';

/** One report's outcome and what to keep about it (the `feedback_reports` columns). */
export interface ArfDecision {
  outcome: ArfOutcome;
  messageId: string | null;
  feedbackType: string;
  userAgent: string | null;
  originalRecipient: string | null;
  originalMailFrom: string | null;
  reportedDomain: string | null;
  sourceIp: string | null;
  arrivalDate: Date | null;
  claimedEmailId: string | null;
  claimedMessageId: string | null;
  details: Record<string, unknown>;
}

/** The reports an inbound request carries, or why it carries none (kept as `ignored`). */
export type InboundReports =
  | { reports: ArfComplaint[]; message: Buffer | null; ignored?: undefined }
  | { ignored: string; message: Buffer | null };

/**
 * What a complaint means for our messages (docs/ARCHITECTURE.md "Postal events"; README:
 * Postal set-up, feedback loops): from the API, and from the ARF feedback reports Postal's
 * inbound endpoint posts. The webhooks module authenticates, decodes and stores; the matching
 * and the state changes are decided here.
 */
@Injectable()
export class ComplaintsService {
  constructor(
    private readonly state: EmailStateService,
    private readonly blacklist: BlacklistService,
    private readonly diagnostics: DiagnosticsService,
  ) {}

  async fromApi(dto: ComplaintInput): Promise<ComplaintResult> {
    if (!dto.message_id && !dto.email) {
      throw new ValidationFailedError('Give message_id or email', [
        { field: 'message_id', message: 'message_id or email is required' },
      ]);
    }
    const source = dto.source ?? 'api';
    const target = dto.message_id
      ? await this.state.find({ messageId: dto.message_id.toLowerCase() })
      : await this.state.findLatestForRecipient(dto.email!);
    if (dto.message_id && !target) throw new NotFoundError(`Message ${dto.message_id} not found`);
    if (!target) {
      // No message of ours went to this address: still honour the complaint.
      await this.blacklist.add({ email: dto.email!, reason: 'complaint', source });
      return { email: dto.email!.trim(), message_id: null, complained: false, suppressed: true };
    }
    const complained = await this.state.markComplained(target, { source });
    return { email: target.recipient, message_id: target.messageId, complained, suppressed: true };
  }

  /**
   * One report received at the feedback-loop address (README: Postal set-up, feedback loops).
   * It may change a message or the suppression list only when it matches a message we sent
   * (X-Email-Id, Message-ID or Postal's token on the original) **and** names that message's
   * recipient — anyone can mail the abuse address, so a report naming only an address, or
   * another recipient than the matched message's, suppresses nothing. Then by Feedback-Type:
   * `opt-out` → unsubscribe (not a complaint); `not-spam` → nothing; `auth-failure` (RFC 6591)
   * → a diagnostic report, never a suppression; anything else (`abuse`, `fraud`, `virus`,
   * `other`, extensions) → a complaint. Every report is kept in feedback_reports with its
   * outcome, by the caller (the webhooks module's feedback store).
   */
  async fromArf(report: ArfComplaint): Promise<ArfDecision> {
    const target =
      (report.emailId ? await this.state.find({ messageId: report.emailId }) : null) ??
      (report.postalMessageId
        ? await this.state.find({ postalMessageId: report.postalMessageId })
        : null) ??
      (report.postalToken ? await this.state.find({ token: report.postalToken }) : null);
    const recipientMatches =
      target !== null &&
      report.originalRecipient !== null &&
      normalizeEmail(report.originalRecipient) === normalizeEmail(target.recipient);

    const details: Record<string, unknown> = {
      source: 'arf',
      feedback_type: report.feedbackType,
      user_agent: report.userAgent,
      reported_domain: report.reportedDomain,
      source_ip: report.sourceIp,
      arrival_date: report.arrivalDate?.toISOString() ?? null,
    };
    let outcome: ArfOutcome;
    if (report.feedbackType === 'auth-failure') {
      outcome = 'auth_failure';
      await this.reportAuthFailure(report, target?.messageId ?? null);
    } else if (report.feedbackType === 'not-spam') {
      outcome = 'not_spam';
    } else if (!target) {
      outcome = 'unmatched';
    } else if (!recipientMatches) {
      outcome = 'recipient_mismatch';
    } else if (report.feedbackType === 'opt-out') {
      await this.state.markUnsubscribed(target, details);
      outcome = 'unsubscribed';
    } else {
      outcome = (await this.state.markComplained(target, details))
        ? 'complained'
        : 'already_complained';
    }

    return {
      outcome,
      feedbackType: report.feedbackType,
      userAgent: report.userAgent,
      originalRecipient: report.originalRecipient,
      originalMailFrom: report.originalMailFrom,
      reportedDomain: report.reportedDomain,
      sourceIp: report.sourceIp,
      arrivalDate: report.arrivalDate,
      claimedEmailId: report.emailId,
      claimedMessageId: report.postalMessageId ?? report.postalToken ?? null,
      messageId: target?.messageId ?? null,
      details: {
        ...(report.postalToken ? { postal_token: report.postalToken } : {}),
        ...(report.authFailure ? { auth_failure: report.authFailure } : {}),
        ...(outcome === 'recipient_mismatch'
          ? { note: 'the report names another recipient than the matched message' }
          : {}),
      },
    };
  }

  /**
   * The ARF reports of what Postal's inbound endpoint posted (any of its four encodings); mail
   * to the abuse address that is not a report is `ignored`, with the parser's reason.
   */
  async readInbound(body: Record<string, unknown>): Promise<InboundReports> {
    const message = rawMessageOf(body);
    try {
      return { reports: await parseInboundPostalReports(body), message };
    } catch (err) {
      if (!(err instanceof ArfParseError)) throw err;
      return { ignored: err.message, message };
    }
  }

  /** An RFC 6591 report: SPF/DKIM/DMARC failed for mail claiming our domain. */
  private async reportAuthFailure(report: ArfComplaint, messageId: string | null): Promise<void> {
    const af = report.authFailure;
    const domain = af?.dkimDomain ?? report.reportedDomain ?? 'unknown domain';
    const what = af?.authFailure ?? 'authentication';
    await this.diagnostics.upsertOpenReport({
      fingerprint: `feedback:auth-failure:${domain}:${what}`.slice(0, 128),
      reportType: 'anomaly',
      severity: 'warning',
      summary: `A receiver reports ${what.toUpperCase()} authentication failures for mail from ${domain}`,
      anomalies: [
        {
          type: 'auth_failure_report',
          domain,
          auth_failure: af?.authFailure ?? null,
          authentication_results: af?.authenticationResults ?? null,
          dkim_domain: af?.dkimDomain ?? null,
          dkim_selector: af?.dkimSelector ?? null,
          spf_dns: af?.spfDns ?? null,
          delivery_result: af?.deliveryResult ?? null,
          source_ip: report.sourceIp,
          reporter: report.userAgent,
          message_id: messageId,
        },
      ],
      context: { source: 'arf', feedback_type: 'auth-failure' },
      recommendedActions: [
        `Check the SPF, DKIM and DMARC records of ${domain} and that Postal signs with the published DKIM selector`,
        'If the source IP is not yours, someone else is sending as your domain: tighten DMARC',
      ],
      urgency: 'medium',
      shouldPauseSending: false,
    });
  }
}
