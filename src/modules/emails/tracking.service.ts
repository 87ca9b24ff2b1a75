import type { Stream } from 'src/common/streams';
import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from 'src/infra/redis/redis.service';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { MessageWritesRepository } from 'src/modules/emails/message-writes.repository';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f6f7f9;color:#1f2937;margin:0}
main{max-width:28rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.25rem;margin:0 0 1rem}button{font:inherit;background:#111827;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;cursor:pointer}
.muted{color:#6b7280;font-size:.9rem}</style></head><body><main>${body}</main></body></html>`;
}

/**
 * A replayed open or click (a prefetching proxy, a link scanner, someone reloading the pixel)
 * within this many seconds of the last recorded one of the same message, kind and link adds no
 * event (README "Security"). The first always counts, and a click on another link counts;
 * statistics count distinct messages, so they do not change.
 */
export const ENGAGEMENT_DEDUPE_WINDOW_S = 300;

/** Opens, clicks and unsubscribes: signed tokens in, events and suppressions out. */
@Injectable()
export class TrackingService {
  private readonly logger = new Logger(TrackingService.name);

  constructor(
    private readonly links: TrackingLinksService,
    private readonly logs: MessageReadsRepository,
    private readonly writes: MessageWritesRepository,
    private readonly blacklist: BlacklistService,
    private readonly redis: RedisService,
  ) {}

  async recordOpen(token: string, info: Record<string, unknown>): Promise<boolean> {
    const p = this.links.verify(token, 'open');
    if (!p) return false;
    return this.recordOnce(p.messageId, 'opened', '', { ...info, source: 'pixel' });
  }

  /** The signed target URL, or null for a bad token. The click is recorded either way it can be. */
  async recordClick(token: string, info: Record<string, unknown>): Promise<string | null> {
    const p = this.links.verify(token, 'click');
    if (!p?.url) return null;
    await this.recordOnce(p.messageId, 'clicked', p.url, { ...info, url: p.url, source: 'link' });
    return p.url;
  }

  /**
   * Records the event unless the same message, kind and link was recorded within
   * ENGAGEMENT_DEDUPE_WINDOW_S. SET NX in Redis decides, so the dedupe holds across API
   * processes; while Redis is down every hit is recorded (fail open, like the rate limits).
   */
  private async recordOnce(
    messageId: string,
    type: 'opened' | 'clicked',
    link: string,
    details: Record<string, unknown>,
  ): Promise<boolean> {
    const linkId = createHash('sha256').update(link).digest('base64url').slice(0, 22);
    const key = this.redis.key('engagement', type, messageId, linkId);
    let claimed: boolean;
    try {
      claimed =
        (await this.redis.client.set(key, '1', 'EX', ENGAGEMENT_DEDUPE_WINDOW_S, 'NX')) === 'OK';
    } catch (err) {
      this.logger.warn(`engagement dedupe unavailable: ${(err as Error).message}`);
      return this.writes.recordEngagement(messageId, type, details);
    }
    if (!claimed) return true;
    try {
      return await this.writes.recordEngagement(messageId, type, details);
    } catch (err) {
      // Not recorded: let the next hit try again.
      await this.redis.client.del(key).catch(() => 0);
      throw err;
    }
  }

  async unsubscribeTarget(
    token: string,
  ): Promise<{ logId: string; email: string; stream: Stream } | null> {
    const p = this.links.verify(token, 'unsubscribe');
    if (!p) return null;
    const log = await this.logs.findByMessageId(p.messageId);
    return log ? { logId: log.id, email: log.recipient, stream: log.stream } : null;
  }

  /**
   * Idempotent: the address is suppressed for the message's stream only (README "Streams": a
   * newsletter unsubscribe never stops password resets) as `unsubscribe`, unless a stronger
   * reason such as a complaint already holds that scope, and the message keeps one
   * `unsubscribed` event.
   */
  async unsubscribe(
    token: string,
    info: Record<string, unknown>,
  ): Promise<{ email: string } | null> {
    const target = await this.unsubscribeTarget(token);
    if (!target) return null;
    const existing = await this.blacklist.check(target.email, target.stream);
    if (existing?.reason !== 'unsubscribe') {
      await this.blacklist.add({
        email: target.email,
        reason: 'unsubscribe',
        scope: target.stream,
        source: 'unsubscribe_link',
      });
      await this.writes.addEventOnce(target.logId, 'unsubscribed', info);
    }
    return { email: target.email };
  }

  confirmPage(email: string, token: string): string {
    return page(
      'Unsubscribe',
      `<h1>Unsubscribe</h1><p>Stop sending email to <strong>${escapeHtml(email)}</strong>?</p>
<form method="post" action="/unsubscribe/${encodeURIComponent(token)}"><button type="submit">Unsubscribe</button></form>`,
    );
  }

  donePage(email: string): string {
    return page(
      'Unsubscribed',
      `<h1>You are unsubscribed</h1><p><strong>${escapeHtml(email)}</strong> will not receive these emails any more.</p>`,
    );
  }

  invalidPage(): string {
    return page(
      'Invalid link',
      `<h1>This link is not valid</h1><p class="muted">It may have been cut or altered.</p>`,
    );
  }
}
