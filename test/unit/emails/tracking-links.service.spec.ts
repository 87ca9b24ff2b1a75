import { loadConfig } from 'src/config/app-config';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';

const OLD = 'old-tracking-secret-0123456789abcdef0123';
const OLDER = 'older-tracking-secret-0123456789abcdef01';
const NEW = 'new-tracking-secret-0123456789abcdef01234';
const MID = '6f1c1d6e-3f6b-4c1e-9a59-1f2b3c4d5e6f';

const service = (env: Record<string, string>): TrackingLinksService =>
  new TrackingLinksService(
    loadConfig({ NODE_ENV: 'test', PUBLIC_URL: 'https://mail.example', ...env }),
  );
const tokenOf = (url: string): string => url.split('/').pop()!;

describe('TrackingLinksService: rotating TRACKING_SECRET', () => {
  const before = service({ TRACKING_SECRET: OLD });
  const links = {
    open: tokenOf(before.openUrl(MID)),
    click: tokenOf(before.clickUrl(MID, 'https://shop.example/sale?x=1')!),
    unsubscribe: tokenOf(before.unsubscribeUrl(MID)),
  };

  it('keeps verifying links signed under a secret listed in TRACKING_SECRET_PREVIOUS', () => {
    const after = service({
      TRACKING_SECRET: NEW,
      TRACKING_SECRET_PREVIOUS: `${OLDER},${OLD}`,
    });
    expect(after.verify(links.open, 'open')).toEqual({ kind: 'open', messageId: MID });
    expect(after.verify(links.unsubscribe, 'unsubscribe')).toEqual({
      kind: 'unsubscribe',
      messageId: MID,
    });
    expect(after.verify(links.click, 'click')).toEqual({
      kind: 'click',
      messageId: MID,
      url: 'https://shop.example/sale?x=1',
    });
    // A retired secret does not turn one kind of token into another.
    expect(after.verify(links.open, 'unsubscribe')).toBeNull();
  });

  it('signs new links with the current secret only', () => {
    const after = service({ TRACKING_SECRET: NEW, TRACKING_SECRET_PREVIOUS: OLD });
    const fresh = tokenOf(after.unsubscribeUrl(MID));
    expect(fresh).not.toBe(links.unsubscribe);
    expect(service({ TRACKING_SECRET: NEW }).verify(fresh, 'unsubscribe')).not.toBeNull();
    expect(before.verify(fresh, 'unsubscribe')).toBeNull();
  });

  it('refuses old links once the old secret is no longer listed', () => {
    const after = service({ TRACKING_SECRET: NEW });
    expect(after.verify(links.unsubscribe, 'unsubscribe')).toBeNull();
    expect(after.verify(links.click, 'click')).toBeNull();
  });

  it('refuses a TRACKING_SECRET_PREVIOUS entry shorter than 32 characters', () => {
    expect(() =>
      loadConfig({
        NODE_ENV: 'test',
        TRACKING_SECRET: NEW,
        TRACKING_SECRET_PREVIOUS: `${OLD},short`,
      }),
    ).toThrow(/TRACKING_SECRET_PREVIOUS/);
  });
});
