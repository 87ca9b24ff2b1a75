import { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { EventWebhooksJob, MAINTENANCE_JOB_OPTIONS } from 'src/infra/queue/queue.constants';
import { EventWebhooksScheduler } from 'src/modules/event-webhooks/event-webhooks.scheduler';

describe(EventWebhooksScheduler.name, () => {
  const add = jest.fn();
  const scheduler = new EventWebhooksScheduler({ add } as unknown as Queue);

  beforeEach(() => add.mockReset().mockResolvedValue({}));

  describe('pruneTick', () => {
    it('enqueues the retention prune with a jobId per UTC day', async () => {
      await scheduler.pruneTick(new Date('2026-11-28T03:45:00.050Z'));

      expect(add).toHaveBeenCalledWith(
        EventWebhooksJob.Prune,
        { day: '2026-11-28T00:00:00.000Z' },
        { ...MAINTENANCE_JOB_OPTIONS, jobId: 'event-webhooks-prune-20261128T000000' },
      );
    });

    it('gives every replica ticking the same day the same jobId', async () => {
      await scheduler.pruneTick(new Date('2026-11-28T03:45:00Z'));
      await scheduler.pruneTick(new Date('2026-11-28T23:59:59.999Z'));

      const ids = add.mock.calls.map(([, , opts]) => (opts as { jobId: string }).jobId);
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).not.toContain(':');
    });

    it('logs instead of throwing when the queue is unavailable', async () => {
      add.mockRejectedValue(new Error('Connection is closed.'));
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      await expect(scheduler.pruneTick(new Date())).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith(
        'event webhooks prune not scheduled: Connection is closed.',
      );
      warn.mockRestore();
    });
  });
});
