/** Samples this process's resident set size every `everyMs` and keeps the peak. */
export class RssSampler {
  peakBytes = 0;
  private timer?: NodeJS.Timeout;

  start(everyMs = 250): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }

  sample(): number {
    const rss = process.memoryUsage().rss;
    if (rss > this.peakBytes) this.peakBytes = rss;
    return rss;
  }
}

export const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;
