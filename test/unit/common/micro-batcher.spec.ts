import { MicroBatcher } from 'src/common/batching/micro-batcher';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MicroBatcher', () => {
  it('hands items submitted in the same turn to one call, answering each caller in order', async () => {
    const calls: number[][] = [];
    const b = new MicroBatcher(
      async (items: number[]) => {
        calls.push(items);
        return items.map((n) => n * 10);
      },
      { maxBatchSize: 100, maxInFlight: 1 },
    );
    const results = await Promise.all([1, 2, 3].map((n) => b.submit(n)));
    expect(results).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('never exceeds maxBatchSize and maxInFlight; later items join the next batch', async () => {
    const calls: number[][] = [];
    let running = 0;
    let maxRunning = 0;
    const release: Array<() => void> = [];
    const b = new MicroBatcher(
      async (items: number[]) => {
        calls.push(items);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return items;
      },
      { maxBatchSize: 2, maxInFlight: 2 },
    );
    const all = Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => b.submit(n)));
    await tick();
    expect(calls).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(b.pending).toBe(3);
    while (calls.flat().length < 7 || release.length > 0) {
      release.shift()?.();
      await tick();
      await tick();
    }
    expect(await all).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(calls.every((c) => c.length <= 2)).toBe(true);
    expect(maxRunning).toBe(2);
  });

  it('retries each item alone when a batch fails, so one bad item fails only its caller', async () => {
    const calls: number[][] = [];
    const b = new MicroBatcher(
      async (items: number[]) => {
        calls.push(items);
        if (items.includes(13)) throw new Error('constraint violated by 13');
        return items.map((n) => -n);
      },
      { maxBatchSize: 10, maxInFlight: 1 },
    );
    const settled = await Promise.allSettled([12, 13, 14].map((n) => b.submit(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[0] as PromiseFulfilledResult<number>).value).toBe(-12);
    expect((settled[1] as PromiseRejectedResult).reason.message).toMatch(/13/);
    expect(calls).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it('fails the whole batch at once when the database is unreachable (no per-item retries)', async () => {
    let calls = 0;
    const b = new MicroBatcher(
      async () => {
        calls++;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
          code: 'ECONNREFUSED',
        });
      },
      { maxBatchSize: 10, maxInFlight: 1 },
    );
    const settled = await Promise.allSettled([1, 2, 3].map((n) => b.submit(n)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
  });

  it('rejects every caller when the batch answers the wrong number of results', async () => {
    const b = new MicroBatcher(async (items: number[]) => items.slice(1), {
      maxBatchSize: 10,
      maxInFlight: 1,
    });
    const settled = await Promise.allSettled([1, 2].map((n) => b.submit(n)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });

  it('refuses nonsensical options', () => {
    expect(
      () => new MicroBatcher(async (i: number[]) => i, { maxBatchSize: 0, maxInFlight: 1 }),
    ).toThrow(RangeError);
  });
});
