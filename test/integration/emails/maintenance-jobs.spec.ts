import { getQueueToken } from '@nestjs/bullmq';
import { ConnectionOptions, Job, Queue, QueueEvents } from 'bullmq';
import {
  AnalyticsJob,
  EmailDeliveryJob,
  QueueName,
  tickJobId,
  WebhooksJob,
} from 'src/infra/queue/queue.constants';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';
import { OutboxScheduler } from 'src/modules/emails/outbox.scheduler';
import { WebhooksScheduler } from 'src/modules/webhooks/webhooks.scheduler';
import { makeEmailLog } from 'test/utils/factories';
import { bootTestApp, TestApp } from 'test/utils/test-app';

jest.setTimeout(60_000);

/**
 * Maintenance jobs run in their owners' processors (docs/ARCHITECTURE.md, README "Processes,
 * roles and scaling out"): the outbox sweep and the soft-bounce retries in the emails worker
 * (`email-delivery` queue), the unprocessed-webhook sweep in the webhooks worker (`webhooks`
 * queue); the `analytics` queue keeps statistics only.
 */
describe('maintenance jobs in their owners’ queues', () => {
  let t: TestApp;
  const events: QueueEvents[] = [];
  const queue = (name: QueueName) => t.app.get<Queue>(getQueueToken(name));
  const eventsOf = async (name: QueueName): Promise<QueueEvents> => {
    const e = new QueueEvents(name, {
      connection: redisOptionsFromUrl(t.config.redisUrl) as ConnectionOptions,
      prefix: `${t.config.redisKeyPrefix}:bull`,
    });
    await e.waitUntilReady();
    events.push(e);
    return e;
  };
  const analyticsMaintenance = async (): Promise<Job[]> =>
    (await queue(QueueName.Analytics).getJobs()).filter(
      (j) => (j.name as string) === 'OutboxSweep' || (j.name as string) === 'RetryScheduled',
    );

  beforeAll(async () => {
    t = await bootTestApp({ APP_ROLES: 'api,worker,scheduler' });
  });
  afterAll(async () => {
    await Promise.all(events.map((e) => e.close()));
    await t?.close();
  });

  it('the outbox tick is an emails job, run by the emails worker', async () => {
    const delivery = queue(QueueName.EmailDelivery);
    const done = await eventsOf(QueueName.EmailDelivery);
    const stale = await makeEmailLog(t.dataSource, {
      recipient: 'stale@outbox.test',
      status: 'queued',
    });
    // As if accepted two minutes ago and never queued (Redis was down): what the sweep looks for.
    await t.dataSource.query(
      `UPDATE email_logs SET created_at = now() - interval '2 minutes',
         updated_at = now() - interval '2 minutes' WHERE id = $1`,
      [stale.id],
    );
    const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);

    await t.app.get(OutboxScheduler).tick(tick);

    const job = await delivery.getJob(tickJobId('outbox-sweep', tick));
    expect(job?.name).toBe(EmailDeliveryJob.OutboxSweep);
    await expect(job!.waitUntilFinished(done)).resolves.toEqual({ enqueued: 1 });
    // The sweep enqueues under `<message id>-swept` (EmailDeliveryProducer.requeueIfNoLiveJob).
    expect((await delivery.getJob(`${stale.externalMessageId}-swept`))?.data).toEqual(
      expect.objectContaining({ messageId: stale.externalMessageId }),
    );
    await expect(analyticsMaintenance()).resolves.toEqual([]);
  });

  it('the retry tick is an emails job, run by the emails worker', async () => {
    const delivery = queue(QueueName.EmailDelivery);
    const done = await eventsOf(QueueName.EmailDelivery);
    const tick = new Date(Math.floor(Date.now() / 300_000) * 300_000);

    await t.app.get(OutboxScheduler).retryTick(tick);

    const job = await delivery.getJob(tickJobId('retry-scheduled', tick));
    expect(job?.name).toBe(EmailDeliveryJob.RetryScheduled);
    await expect(job!.waitUntilFinished(done)).resolves.toEqual({ requeued: 0, suppressed: 0 });
    await expect(analyticsMaintenance()).resolves.toEqual([]);
  });

  it('the unprocessed-webhook sweep is a webhooks job, run by the webhooks worker', async () => {
    const webhooks = queue(QueueName.Webhooks);
    const done = await eventsOf(QueueName.Webhooks);
    // Stored while Redis was down, never queued: older than the sweep's two minutes.
    const [{ id }] = await t.dataSource.query(
      `INSERT INTO webhook_events (uuid, event, payload, received_at)
       VALUES ('5b0e7a52-9c4e-4d7e-8f3a-1c2d3e4f5a6b', 'SendLimitApproaching',
               '{"event":"SendLimitApproaching","timestamp":null,"payload":{"server":{"name":"Main"},"volume":90,"limit":100}}',
               now() - interval '5 minutes')
       RETURNING id`,
    );
    const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);

    await t.app.get(WebhooksScheduler).tick(tick);

    const job = await webhooks.getJob(tickJobId('webhook-sweep', tick));
    expect(job?.name).toBe(WebhooksJob.SweepUnprocessed);
    await expect(job!.waitUntilFinished(done)).resolves.toEqual({ requeued: 1 });
    await expect(
      (async () => {
        for (let i = 0; i < 100; i++) {
          const [row] = await t.dataSource.query(
            `SELECT processed_at FROM webhook_events WHERE id = $1`,
            [id],
          );
          if (row.processed_at) return true;
          await new Promise((r) => setTimeout(r, 100));
        }
        return false;
      })(),
    ).resolves.toBe(true);
    expect(Object.values(AnalyticsJob)).not.toContain('OutboxSweep');
  });
});
