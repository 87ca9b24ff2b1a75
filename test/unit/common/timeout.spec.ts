import { untilAborted, waitAtMost, withTimeout } from 'src/common/async/timeout';

/** A promise that never settles: the time bound always wins against it. */
const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('time bounds on AbortSignal.timeout', () => {
  describe('withTimeout', () => {
    it('resolves with the value when the work finishes first', async () => {
      await expect(withTimeout(Promise.resolve(42), 60_000, 'slow')).resolves.toBe(42);
    });

    it('passes the work’s own rejection on unchanged', async () => {
      const boom = new Error('boom');
      await expect(withTimeout(Promise.reject(boom), 60_000, 'slow')).rejects.toBe(boom);
    });

    it('rejects with the given message once the time runs out', async () => {
      await expect(withTimeout(never(), 5, 'Redis did not answer within 5 ms')).rejects.toThrow(
        new Error('Redis did not answer within 5 ms'),
      );
    });

    it('ignores the work settling after the timeout (no unhandled rejection)', async () => {
      let fail!: (e: Error) => void;
      const late = new Promise<never>((_, reject) => (fail = reject));
      await expect(withTimeout(late, 5, 'timed out')).rejects.toThrow('timed out');
      fail(new Error('too late'));
      await new Promise((r) => setImmediate(r));
    });
  });

  describe('waitAtMost', () => {
    it('is true when the work finished in time, false when the time ran out', async () => {
      await expect(waitAtMost(Promise.resolve(), 60_000)).resolves.toBe(true);
      await expect(waitAtMost(never(), 5)).resolves.toBe(false);
    });

    it('passes a rejection within the time on', async () => {
      await expect(waitAtMost(Promise.reject(new Error('no')), 60_000)).rejects.toThrow('no');
    });
  });

  it('untilAborted rejects at once with the reason of an already aborted signal', async () => {
    const reason = new Error('stopped');
    await expect(untilAborted(never(), AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
