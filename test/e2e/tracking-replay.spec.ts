import request from 'supertest';
import { RedisService } from 'src/infra/redis/redis.service';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';
import { ENGAGEMENT_DEDUPE_WINDOW_S } from 'src/modules/emails/tracking.service';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';
import { makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

/**
 * Replayed open and click links (README "Security"): the first hit of a message, kind and link
 * is recorded, replays within ENGAGEMENT_DEDUPE_WINDOW_S are not, another link still counts.
 */
describe('tracking replays (e2e)', () => {
  let t: TestApp;
  let links: TrackingLinksService;

  beforeAll(async () => {
    t = await bootTestApp();
    links = t.app.get(TrackingLinksService);
  });
  afterAll(() => t.close());

  const path = (url: string): string => new URL(url).pathname;
  const events = async (logId: string, type: string) =>
    (
      await t.dataSource.query(
        `SELECT details FROM email_events WHERE email_log_id = $1 AND event_type = $2 ORDER BY id`,
        [logId, type],
      )
    ).map((r: { details: Record<string, unknown> }) => r.details);

  it('300 loads of the pixel record one open', async () => {
    const log = await makeEmailLog(t.dataSource, { status: 'delivered' });
    const pixel = path(links.openUrl(log.externalMessageId));
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => request(t.server).get(pixel).expect(200)));
    }
    expect(await events(log.id, 'opened')).toHaveLength(1);
    const [row] = await t.dataSource.query(`SELECT opened_at FROM email_logs WHERE id = $1`, [
      log.id,
    ]);
    expect(row.opened_at).not.toBeNull();
  });

  it('replayed clicks record one click per link; another link in the window still counts', async () => {
    const log = await makeEmailLog(t.dataSource, { status: 'delivered' });
    const a = path(links.clickUrl(log.externalMessageId, 'https://shop.example/a')!);
    const b = path(links.clickUrl(log.externalMessageId, 'https://shop.example/b')!);
    for (let i = 0; i < 20; i++) {
      const res = await request(t.server).get(a).expect(302);
      // Every replay still redirects.
      expect(res.headers.location).toBe('https://shop.example/a');
    }
    await request(t.server).get(b).expect(302);
    await request(t.server).get(b).expect(302);
    const clicks = await events(log.id, 'clicked');
    expect(clicks.map((d: { url: string }) => d.url)).toEqual([
      'https://shop.example/a',
      'https://shop.example/b',
    ]);
  });

  it('the window is per message: the same link in another message counts', async () => {
    const one = await makeEmailLog(t.dataSource, { status: 'delivered' });
    const two = await makeEmailLog(t.dataSource, { status: 'delivered' });
    for (const log of [one, two]) {
      const url = path(links.clickUrl(log.externalMessageId, 'https://shop.example/same')!);
      await request(t.server).get(url).expect(302);
      await request(t.server).get(url).expect(302);
      expect(await events(log.id, 'clicked')).toHaveLength(1);
    }
  });

  it('the dedupe is shared through Redis with a TTL of the window, so it holds across processes', async () => {
    const log = await makeEmailLog(t.dataSource, { status: 'delivered' });
    const pixel = path(links.openUrl(log.externalMessageId));
    await request(t.server).get(pixel).expect(200);
    const redis = t.app.get(RedisService);
    const keys = await redis.client.keys(
      redis.key('engagement', 'opened', log.externalMessageId, '*'),
    );
    expect(keys).toHaveLength(1);
    const ttl = await redis.client.ttl(keys[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(ENGAGEMENT_DEDUPE_WINDOW_S);
    // Once the window is over (the key expired), the next open is recorded again.
    await redis.client.del(keys[0]);
    await request(t.server).get(pixel).expect(200);
    expect(await events(log.id, 'opened')).toHaveLength(2);
  });

  it('an unsubscribe link keeps a stronger reason and records one event however often it is used', async () => {
    const log = await makeEmailLog(t.dataSource, { status: 'delivered' });
    const blacklist = t.app.get(BlacklistService);
    await blacklist.add({ email: log.recipient, reason: 'complaint', source: 'fbl' });
    const unsub = path(links.unsubscribeUrl(log.externalMessageId));
    for (let i = 0; i < 5; i++) {
      await request(t.server)
        .post(unsub)
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);
    }
    expect(await blacklist.check(log.recipient)).toMatchObject({ reason: 'complaint' });
    expect(await events(log.id, 'unsubscribed')).toHaveLength(1);
  });
});
