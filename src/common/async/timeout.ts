/**
 * Time bounds for promises that take no AbortSignal of their own (BullMQ's addBulk, ioredis
 * commands, our own idle waits), built on `AbortSignal.timeout(ms)`. Requests that take a
 * signal (fetch, undici, the Anthropic SDK) are given `AbortSignal.timeout(ms)` or their own
 * timeout option directly. The timer is unref'd: it never keeps a process alive on its own.
 */

/** Settles like `work`, or rejects with `signal.reason` once the signal aborts first. */
export function untilAborted<T>(work: PromiseLike<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      // Still observe `work`, so a later rejection of it is not an unhandled one.
      work.then(undefined, () => undefined);
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * Settles like `work`, or rejects with `new Error(message)` when `ms` pass first. `work`
 * itself keeps running (nothing can cancel it); its late result is ignored.
 */
export async function withTimeout<T>(
  work: PromiseLike<T>,
  ms: number,
  message: string,
): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  try {
    return await untilAborted(work, signal);
  } catch (err) {
    if (signal.aborted && err === signal.reason) throw new Error(message);
    throw err;
  }
}

/**
 * Waits for `work` at most `ms`: true when it finished in time, false when the time ran out
 * first. A rejection of `work` within the time is passed on.
 */
export async function waitAtMost(work: PromiseLike<unknown>, ms: number): Promise<boolean> {
  const signal = AbortSignal.timeout(ms);
  try {
    await untilAborted(work, signal);
    return true;
  } catch (err) {
    if (signal.aborted && err === signal.reason) return false;
    throw err;
  }
}
