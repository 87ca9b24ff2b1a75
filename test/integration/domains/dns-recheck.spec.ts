import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import request from 'supertest';
import { QueueName } from 'src/infra/queue/queue.constants';
import { DomainsScheduler } from 'src/modules/domains/domains.scheduler';
import { DomainsService } from 'src/modules/domains/domains.service';
import { dkimKey, goodDomain, POSTAL_DNS, POSTAL_ZONE, SELECTOR } from 'test/fakes/dns-zones';
import { FakeDns } from 'test/fakes/fake-dns';
import { FakeSlack } from 'test/fakes/fake-slack';
import { bootTestApp, TestApp } from 'test/utils/test-app';
import { waitFor } from 'test/utils/wait';

jest.setTimeout(60_000);

/**
 * The daily re-check end to end: the scheduler's tick enqueues the job, the worker's processor
 * re-checks every domain, and a record that broke (pass → fail) opens a diagnostic report and
 * alerts on Slack; a domain that stayed broken or stayed good raises nothing.
 */
describe(DomainsScheduler.name, () => {
  let t: TestApp;
  let dns: FakeDns;
  let slack: FakeSlack;
  let scheduler: DomainsScheduler;
  let auth: string;
  const { publicKey } = dkimKey();

  beforeAll(async () => {
    dns = await new FakeDns({
      ...POSTAL_ZONE,
      ...goodDomain('shop.test', publicKey),
      ...goodDomain('steady.test', publicKey),
    }).start();
    slack = await new FakeSlack().start();
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      DNS_SERVERS: dns.address,
      POSTAL_SPF_INCLUDE: POSTAL_DNS.spfInclude!,
      POSTAL_RETURN_PATH_HOST: POSTAL_DNS.returnPathHost!,
      POSTAL_MX_HOSTS: POSTAL_DNS.mxHosts.join(','),
      ...slack.env(),
    });
    auth = `Bearer ${await t.createKey('full')}`;
    const domains = t.app.get(DomainsService);
    for (const domain of ['shop.test', 'steady.test', 'never.test'])
      await domains.add({ domain, dkimSelector: SELECTOR, dkimPublicKey: publicKey });
    scheduler = new DomainsScheduler(t.app.get<Queue>(getQueueToken(QueueName.Domains)));
  });
  afterAll(async () => {
    await t?.close();
    await dns?.stop();
    await slack?.stop();
  });

  describe('dailyTick', () => {
    it('alerts and files a report for the domain whose SPF record broke, once', async () => {
      expect((await t.app.get(DomainsService).get('shop.test')).status).toBe('verified');
      // Someone replaced the SPF record and dropped Postal's include.
      dns.set({
        'shop.test': {
          ...goodDomain('shop.test', publicKey)['shop.test'],
          TXT: ['v=spf1 mx -all'],
        },
      });

      await scheduler.dailyTick(new Date());
      const alert = await waitFor(
        () => slack.delivered.find((r) => JSON.stringify(r.body).includes('shop.test')),
        'the Slack alert',
      );
      expect(JSON.stringify(alert!.body)).toContain('DNS of shop.test broke: SPF');
      expect(slack.delivered.filter((r) => JSON.stringify(r.body).includes('steady.test'))).toEqual(
        [],
      );
      expect(slack.delivered.filter((r) => JSON.stringify(r.body).includes('never.test'))).toEqual(
        [],
      );

      const reports = await request(t.server)
        .get('/api/v1/reports')
        .set('Authorization', auth)
        .expect(200);
      const report = reports.body.data.find((r: { summary: string }) =>
        r.summary.includes('shop.test'),
      );
      expect(report).toMatchObject({ severity: 'critical' });
      expect(report.recommended_actions[0]).toBe(
        'Replace the TXT record at shop.test with: v=spf1 mx include:spf.postal.test -all',
      );
      const shop = await request(t.server)
        .get('/api/v1/domains/shop.test')
        .set('Authorization', auth)
        .expect(200);
      expect(shop.body).toMatchObject({ status: 'failing', verified: false });
    });

    it('raises nothing more the next day while the record stays broken', async () => {
      const before = slack.requests.length;
      const queue = t.app.get<Queue>(getQueueToken(QueueName.Domains));
      await scheduler.dailyTick(new Date(Date.now() + 24 * 3600_000));
      await waitFor(async () => (await queue.getCompletedCount()) >= 2, 'the second re-check');
      expect(slack.requests.length).toBe(before);
    });
  });
});
