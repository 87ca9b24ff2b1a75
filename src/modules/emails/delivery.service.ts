import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import { isUnavailableError } from 'src/common/errors/unavailable';
import type { Stream } from 'src/common/streams';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';
import { AttachmentsUnavailableError } from 'src/modules/emails/attachments/attachments.service';
import { DeliveryAlertsService } from 'src/modules/emails/delivery-alerts.service';
import { DeliveryTransitionsRepository } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { MessageComposer, TemplateUnavailableError } from 'src/modules/emails/message-composer';
import {
  MailTransport,
  TransportError,
  TransportResult,
} from 'src/modules/emails/transport/mail-transport';
import { TemplateLimitError, TemplateRenderError } from 'src/modules/templates/templates.service';

/** A `processing` claim older than this was abandoned (the transport times out long before). */
export const STALE_CLAIM_S = 300;
/**
 * How long a message Postal accepted may wait for PostgreSQL to record it `sent`: well inside
 * the stale-claim window, after which the claim would be taken over and the message sent again.
 */
const RECORD_SENT_WITHIN_MS = (STALE_CLAIM_S - 60) * 1000;

export type DeliveryOutcome =
  | { kind: 'sent'; providerMessageId: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'delay'; delayMs: number; reason: string };

/** A permanent failure: the message is `failed`; the job must not be retried. */
export class PermanentDeliveryError extends Error {}

export interface AttemptInfo {
  /** Attempts already made before this one (BullMQ attemptsMade). */
  attemptsMade: number;
  maxAttempts: number;
}

/** The delivery steps for one message (docs/ARCHITECTURE.md "Deliver"). */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);

  constructor(
    private readonly logs: DeliveryTransitionsRepository,
    private readonly rateControl: RateControlService,
    private readonly composer: MessageComposer,
    private readonly transport: MailTransport,
    private readonly alerts: DeliveryAlertsService,
  ) {}

  /**
   * Delivers one message. Returns the outcome; throws TransportError for retryable failures
   * (BullMQ backs off) and PermanentDeliveryError once the message is marked failed.
   */
  async deliver(
    messageId: string,
    knownDomain: string | undefined,
    attempt: AttemptInfo,
    stream: Stream = 'transactional',
  ): Promise<DeliveryOutcome> {
    const domain = knownDomain ?? (await this.logs.recipientDomainOf(messageId));
    if (domain === null) return { kind: 'skipped', reason: 'unknown message' };

    // A token first: a message waiting for its domain's rate is not claimed at all. The
    // stream picks the bucket's lane (transactional first, README "Streams").
    const token = await this.rateControl.acquire(domain, { stream, messageId });
    if (!token.granted) return { kind: 'delay', delayMs: token.retryAfterMs, reason: token.reason };

    const msg = await this.logs.claimForDelivery(messageId, STALE_CLAIM_S);
    if (!msg) {
      // Claimed by a worker that may have died mid-send (this job is BullMQ's stalled-job
      // retry): look again once that claim counts as abandoned, rather than drop the message.
      const claimedFor = await this.logs.processingForS(messageId);
      if (claimedFor !== null) {
        return {
          kind: 'delay',
          delayMs: Math.max(1000, (STALE_CLAIM_S - claimedFor) * 1000),
          reason: 'claimed',
        };
      }
      return { kind: 'skipped', reason: 'already sent or final' };
    }
    if (msg.sendAt && msg.sendAt.getTime() > Date.now() + 1000) {
      await this.logs.release(msg.id);
      return { kind: 'delay', delayMs: msg.sendAt.getTime() - Date.now(), reason: 'send_at' };
    }

    if (msg.suppressed) {
      await this.logs.markFailed(msg.id, 'Recipient blacklisted');
      return { kind: 'failed', reason: 'Recipient blacklisted' };
    }

    let outgoing;
    try {
      outgoing = await this.composer.compose(msg);
    } catch (err) {
      // Over a template limit (README "Security"): this message fails, nothing else waits.
      if (err instanceof TemplateLimitError) {
        await this.logs.markFailed(msg.id, `template_too_complex: ${err.message}`, {
          code: 'template_too_complex',
          limit: err.limit,
        });
        throw new PermanentDeliveryError(`template_too_complex: ${err.message}`);
      }
      if (err instanceof TemplateRenderError || err instanceof TemplateUnavailableError) {
        await this.logs.markFailed(msg.id, `template_render_error: ${err.message}`, {
          code: 'template_render_error',
        });
        throw new PermanentDeliveryError(`template_render_error: ${err.message}`);
      }
      if (err instanceof AttachmentsUnavailableError) {
        await this.logs.markFailed(msg.id, `attachment_unavailable: ${err.message}`, {
          code: 'attachment_unavailable',
        });
        throw new PermanentDeliveryError(`attachment_unavailable: ${err.message}`);
      }
      await this.logs.release(msg.id);
      throw err;
    }

    let result;
    try {
      result = await this.transport.send(outgoing);
    } catch (err) {
      const terr =
        err instanceof TransportError
          ? err
          : new TransportError(String((err as Error)?.message ?? err), true, 'Unknown');
      if (terr.credential) await this.alerts.credentialError(terr);
      const lastAttempt = attempt.attemptsMade + 1 >= attempt.maxAttempts;
      if (!terr.retryable || lastAttempt) {
        await this.logs.markFailed(msg.id, terr.message, {
          code: terr.code,
          attempts: attempt.attemptsMade + 1,
        });
        throw new PermanentDeliveryError(terr.message);
      }
      await this.logs.recordTransientError(msg.id, terr.message);
      throw terr;
    }

    await this.recordSent(msg.id, result, outgoing.subject);
    await this.afterSent(outgoing, result);
    return { kind: 'sent', providerMessageId: result.providerMessageId };
  }

  /**
   * The message has left: its `sent` state must outlive a short PostgreSQL outage. Failing the
   * job instead would leave the claim to go stale and the message to be sent a second time.
   */
  private async recordSent(id: string, result: TransportResult, subject: string): Promise<void> {
    const until = Date.now() + RECORD_SENT_WITHIN_MS;
    for (let waitMs = 250; ; waitMs = Math.min(waitMs * 2, 5000)) {
      try {
        await this.logs.markSent(
          id,
          { ...result, subject },
          result.storedCopy ? { sandbox: result.storedCopy } : null,
        );
        return;
      } catch (err) {
        if (!isUnavailableError(err) || Date.now() + waitMs > until) throw err;
        this.logger.warn(
          `message ${id} sent, not yet recorded (${(err as Error).message}): retrying`,
        );
        await sleep(waitMs);
      }
    }
  }

  /**
   * The transport's own step once the message is recorded `sent` (the sandbox reports its
   * outcome as Postal-format events: docs/ARCHITECTURE.md "Transports"). The message has left
   * and is recorded: a failure here is logged, never a failed delivery.
   */
  private async afterSent(
    outgoing: Parameters<MailTransport['afterSent']>[0],
    result: TransportResult,
  ): Promise<void> {
    try {
      await this.transport.afterSent(outgoing, result);
    } catch (err) {
      this.logger.warn(
        `${this.transport.name} outcome for ${outgoing.messageId} not reported: ${(err as Error).message}`,
      );
    }
  }
}
