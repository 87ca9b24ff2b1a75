import { Injectable } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import {
  TrackingTokenPayload,
  TrackingTokenSigner,
} from 'src/modules/emails/tracking/tracking-token';

/** Builds and verifies the signed URLs of SPEC §10 under TRACKING_SECRET. */
@Injectable()
export class TrackingLinksService {
  private readonly signer: TrackingTokenSigner;
  private readonly base: string;

  constructor(config: AppConfig) {
    this.signer = new TrackingTokenSigner(config.tracking.secret);
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
    return this.signer.verify(token, kind);
  }
}
