import { isUnavailableError } from 'src/common/errors/unavailable';

export interface MicroBatcherOptions {
  /** Most items one call of `run` receives. */
  maxBatchSize: number;
  /** Most calls of `run` at once; further items wait and join the next batch. */
  maxInFlight: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: items submitted by concurrent callers in the same turn of the event loop (and
 * while `maxInFlight` batches are running) are handed to `run` together, so N concurrent jobs
 * or requests cost one statement and one commit instead of N. Under light load a batch holds
 * one item and waits only for `setImmediate`.
 *
 * `run` must answer one result per item, in order, and must be all-or-nothing (one SQL
 * statement, one Redis MULTI). When a batch of several fails for a reason other than the
 * database or Redis being unreachable, each item is tried again on its own, so one bad item
 * cannot fail the others; an outage fails them all at once.
 */
export class MicroBatcher<I, O> {
  private queue: Array<Pending<I, O>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: MicroBatcherOptions,
  ) {
    if (!(opts.maxBatchSize >= 1) || !(opts.maxInFlight >= 1)) {
      throw new RangeError('maxBatchSize and maxInFlight must be at least 1');
    }
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a batch (for tests and metrics). */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.opts.maxInFlight) {
      const batch = this.queue.splice(0, this.opts.maxBatchSize);
      this.inFlight++;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
      });
    }
  }

  private async execute(batch: Array<Pending<I, O>>): Promise<void> {
    let results: O[];
    try {
      results = await this.run(batch.map((p) => p.item));
    } catch (err) {
      if (batch.length === 1 || isUnavailableError(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      await Promise.all(batch.map((p) => this.execute([p])));
      return;
    }
    if (results.length !== batch.length) {
      const err = new Error(`batch answered ${results.length} results for ${batch.length} items`);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]));
  }
}
