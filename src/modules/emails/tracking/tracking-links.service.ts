import { Injectable } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  TrackingTokenPayload,
  TrackingTokenSigner,
} from 'src/modules/emails/tracking/tracking-token';

/**
 * Builds and verifies signed URLs (README "Security") under TRACKING_SECRET. Links signed under a
 * secret listed in TRACKING_SECRET_PREVIOUS still verify (mail already delivered outlives a
 * rotation; RFC 8058 unsubscribe links must keep working); new links use the current one.
 */
@Injectable()
export class TrackingLinksService {
  private readonly signer: TrackingTokenSigner;
  private readonly retired: TrackingTokenSigner[];
  private readonly base: string;

  constructor(config: AppConfig) {
    this.signer = new TrackingTokenSigner(config.tracking.secret);
    this.retired = config.tracking.previousSecrets.map((s) => new TrackingTokenSigner(s));
    this.base = config.publicUrl;
  }

  openUrl(messageId: string): string {
    return `${this.base}/t/o/${this.signer.sign({ kind: 'open', messageId })}`;
  }

  /** Null when the URL can't be tracked (too long for a token): the link is left as is. */
  clickUrl(messageId: string, url: string): string | null {
    try {
      return `${this.base}/t/c/${this.signer.sign({ kind: 'click', messageId, url })}`;
    } catch {
      return null;
    }
  }

  unsubscribeUrl(messageId: string): string {
    return `${this.base}/unsubscribe/${this.signer.sign({ kind: 'unsubscribe', messageId })}`;
  }

  verify(token: string, kind: TrackingTokenPayload['kind']): TrackingTokenPayload | null {
    const current = this.signer.verify(token, kind);
    if (current || this.retired.length === 0) return current;
    for (const signer of this.retired) {
      const payload = signer.verify(token, kind);
      if (payload) return payload;
    }
    return null;
  }
}
