import { Injectable } from '@nestjs/common';
import { NotFoundError, ValidationFailedError } from 'src/common/errors/app-error';
import { BlacklistService, normalizeEmail } from 'src/modules/blacklist/blacklist.service';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import { ComplaintCreateDto, ComplaintResponseDto } from 'src/modules/webhooks/dto/complaint.dto';
import type { ArfComplaint } from 'src/modules/webhooks/arf-parser';
import type { FeedbackOutcome } from 'src/modules/webhooks/feedback-report.entity';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';

/** Complaints from the API and from ARF feedback reports (README: Postal set-up, feedback loops). */
@Injectable()
export class ComplaintsService {
  constructor(
    private readonly state: EmailStateService,
    private readonly blacklist: BlacklistService,
    private readonly diagnostics: DiagnosticsService,
    private readonly feedback: FeedbackReportsService,
  ) {}

  async fromApi(dto: ComplaintCreateDto): Promise<ComplaintResponseDto> {
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
   * outcome; `raw` is the message it came in.
   */
  async fromArf(
    report: ArfComplaint,
    raw: Buffer | null = null,
    context: Record<string, unknown> = {},
  ): Promise<{ outcome: FeedbackOutcome; message_id: string | null; feedback_report_id: string }> {
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
    let outcome: FeedbackOutcome;
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

    const id = await this.feedback.record({
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
        ...context,
        ...(report.postalToken ? { postal_token: report.postalToken } : {}),
        ...(report.authFailure ? { auth_failure: report.authFailure } : {}),
        ...(outcome === 'recipient_mismatch'
          ? { note: 'the report names another recipient than the matched message' }
          : {}),
      },
      raw,
    });
    return { outcome, message_id: target?.messageId ?? null, feedback_report_id: id };
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
