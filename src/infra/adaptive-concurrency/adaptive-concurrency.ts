import { hostname } from 'node:os';
import type { Clock } from 'src/infra/clock/clock';

/**
 * Adaptive concurrency (README "Processes, roles and scaling out"; docs/ARCHITECTURE.md
 * "Processes and roles"): API processes publish how busy their event loop is, and workers
 * scale the concurrency of their busiest queues to the highest reading, so that delivery work
 * yields the CPU (and PostgreSQL) to requests while they are many.
 */

/** One API process's event-loop utilization over its last interval, as published. */
export interface ApiLoadReading {
  /** The publishing process: `<hostname>:<pid>`. */
  readonly source: string;
  /** 0 (idle) to 1 (never idle), `performance.eventLoopUtilization()` over one interval. */
  readonly utilization: number;
  /** Epoch milliseconds at the end of the interval measured. */
  readonly measuredAt: number;
}

export interface AdaptiveConcurrencyOptions {
  /** How often API processes publish and workers adjust. */
  readonly intervalMs: number;
  /** A reading further than this from the worker's clock is ignored (its process is gone). */
  readonly staleAfterMs: number;
  /** Above it, each queue's concurrency is halved… */
  readonly highMark: number;
  /** …below it, doubled back towards the configured value; in between it holds… */
  readonly lowMark: number;
  /** …and below this (the API mostly idle) the configured value comes back at once. */
  readonly idleMark: number;
  /** The least share of the configured concurrency (never under 1 job): every queue moves. */
  readonly floorShare: number;
}

export const ADAPTIVE_CONCURRENCY: AdaptiveConcurrencyOptions = {
  intervalMs: 500,
  staleAfterMs: 1500,
  highMark: 0.85,
  lowMark: 0.6,
  idleMark: 0.3,
  floorShare: 0.1,
};

/** This process as the source of its readings. */
export const thisProcessSource = (): string => `${hostname()}:${process.pid}`;

/** A field of the published hash as a reading; null when it is not one. */
export function parseApiLoad(source: string, raw: string): ApiLoadReading | null {
  try {
    const { utilization, measuredAt } = JSON.parse(raw) as Partial<ApiLoadReading>;
    if (typeof utilization !== 'number' || !Number.isFinite(utilization)) return null;
    if (typeof measuredAt !== 'number' || !Number.isFinite(measuredAt)) return null;
    return { source, utilization, measuredAt };
  } catch {
    return null;
  }
}

export const formatApiLoad = (r: Omit<ApiLoadReading, 'source'>): string =>
  JSON.stringify({ utilization: Number(r.utilization.toFixed(3)), measuredAt: r.measuredAt });

/**
 * The decision, without timers or I/O: one share of every managed queue's configured
 * concurrency, halved on a busy reading and doubled back on a quiet one — restored at once when
 * the API is mostly idle, so work held back during a burst of requests runs at full speed as
 * soon as the burst ends (from the floor, doubling takes four readings, two seconds). Each new reading moves the share
 * once (a tick that sees nothing newer holds), and without a fresh reading the configured
 * concurrency applies in full.
 */
export class AdaptiveConcurrency {
  private share = 1;
  private lastActedOn = -Infinity;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly opts: AdaptiveConcurrencyOptions = ADAPTIVE_CONCURRENCY,
  ) {}

  /** Takes one interval's readings; answers the load acted on, null without a fresh one. */
  update(readings: readonly ApiLoadReading[]): number | null {
    const now = this.clock.now().getTime();
    const fresh = readings.filter((r) => Math.abs(now - r.measuredAt) <= this.opts.staleAfterMs);
    if (fresh.length === 0) {
      this.share = 1;
      return null;
    }
    const load = Math.max(...fresh.map((r) => r.utilization));
    const newest = Math.max(...fresh.map((r) => r.measuredAt));
    if (newest <= this.lastActedOn) return load;
    this.lastActedOn = newest;
    if (load > this.opts.highMark) {
      this.share = Math.max(this.opts.floorShare, this.share / 2);
    } else if (load < this.opts.idleMark) {
      this.share = 1;
    } else if (load < this.opts.lowMark) {
      this.share = Math.min(1, this.share * 2);
    }
    return load;
  }

  /** The concurrency now in force for a queue configured with `configured`. */
  concurrency(configured: number): number {
    const floor = Math.max(1, Math.ceil(configured * this.opts.floorShare));
    return Math.min(configured, Math.max(floor, Math.round(configured * this.share)));
  }
}
