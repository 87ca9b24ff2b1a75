import {
  ADAPTIVE_CONCURRENCY,
  AdaptiveConcurrency,
  type ApiLoadReading,
  formatApiLoad,
  parseApiLoad,
} from 'src/infra/adaptive-concurrency/adaptive-concurrency';

/** A clock the test sets (epoch ms). */
class SetClock {
  t = 1_000_000;
  now(): Date {
    return new Date(this.t);
  }
}

/** One tick: the worker's clock, the readings it finds, what it must decide. */
interface Step {
  /** Worker clock, ms after the start. */
  at: number;
  /** [utilization, measured at (ms after the start)] per API process. */
  api: Array<[number, number]>;
  /** The load acted on (null: no fresh signal). */
  load: number | null;
  /** Concurrency of queues configured with 50, 20 and 4. */
  c: [number, number, number];
}

const START = 1_000_000;

function run(steps: Step[]): Array<Pick<Step, 'load' | 'c'>> {
  const clock = new SetClock();
  const adaptive = new AdaptiveConcurrency(clock);
  return steps.map((s) => {
    clock.t = START + s.at;
    const readings: ApiLoadReading[] = s.api.map(([utilization, measuredAt], i) => ({
      source: `host:${i}`,
      utilization,
      measuredAt: START + measuredAt,
    }));
    const load = adaptive.update(readings);
    return { load, c: [50, 20, 4].map((n) => adaptive.concurrency(n)) as Step['c'] };
  });
}

describe(AdaptiveConcurrency.name, () => {
  it('uses the README defaults: 500 ms interval, stale after 3, marks 0.85 / 0.6 / 0.3, floor 10 %', () => {
    expect(ADAPTIVE_CONCURRENCY).toEqual({
      intervalMs: 500,
      staleAfterMs: 1500,
      highMark: 0.85,
      lowMark: 0.6,
      idleMark: 0.3,
      floorShare: 0.1,
    });
  });

  it.each<[string, Step[]]>([
    ['full concurrency before any reading', [{ at: 0, api: [], load: null, c: [50, 20, 4] }]],
    [
      'halves on each new busy reading, down to the floor (10 %, at least 1) and no further',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 500, api: [[0.95, 500]], load: 0.95, c: [13, 5, 1] },
        { at: 1000, api: [[1, 1000]], load: 1, c: [6, 3, 1] },
        { at: 1500, api: [[1, 1500]], load: 1, c: [5, 2, 1] },
        { at: 2000, api: [[1, 2000]], load: 1, c: [5, 2, 1] },
      ],
    ],
    [
      'doubles back per quiet reading (0.3 to 0.6), up to the configured value',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 500, api: [[0.95, 500]], load: 0.95, c: [13, 5, 1] },
        { at: 1000, api: [[0.99, 1000]], load: 0.99, c: [6, 3, 1] },
        { at: 1500, api: [[0.5, 1500]], load: 0.5, c: [13, 5, 1] },
        { at: 2000, api: [[0.4, 2000]], load: 0.4, c: [25, 10, 2] },
        { at: 2500, api: [[0.3, 2500]], load: 0.3, c: [50, 20, 4] },
        { at: 3000, api: [[0.3, 3000]], load: 0.3, c: [50, 20, 4] },
      ],
    ],
    [
      'gives everything back at once when the API is mostly idle (below 0.3)',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 500, api: [[0.95, 500]], load: 0.95, c: [13, 5, 1] },
        { at: 1000, api: [[0.99, 1000]], load: 0.99, c: [6, 3, 1] },
        { at: 1500, api: [[0.29, 1500]], load: 0.29, c: [50, 20, 4] },
      ],
    ],
    [
      'holds between the marks',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 500, api: [[0.85, 500]], load: 0.85, c: [25, 10, 2] },
        { at: 1000, api: [[0.6, 1000]], load: 0.6, c: [25, 10, 2] },
        { at: 1500, api: [[0.7, 1500]], load: 0.7, c: [25, 10, 2] },
      ],
    ],
    [
      'moves once per reading: a tick that finds nothing newer holds',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 400, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 900, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 1000, api: [[0.4, 1000]], load: 0.4, c: [50, 20, 4] },
        { at: 1100, api: [[0.4, 1000]], load: 0.4, c: [50, 20, 4] },
      ],
    ],
    [
      'follows the busiest of several API processes',
      [
        {
          at: 0,
          api: [
            [0.2, 0],
            [0.9, -100],
          ],
          load: 0.9,
          c: [25, 10, 2],
        },
        {
          at: 500,
          api: [
            [0.1, 500],
            [0.5, 400],
          ],
          load: 0.5,
          c: [50, 20, 4],
        },
      ],
    ],
    [
      'ignores readings older than 1.5 s (a process that stopped publishing)',
      [
        {
          at: 0,
          api: [
            [0.9, 0],
            [0.99, -1501],
          ],
          load: 0.9,
          c: [25, 10, 2],
        },
        { at: 1500, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
      ],
    ],
    [
      'returns to the configured concurrency at once when no reading is fresh',
      [
        { at: 0, api: [[0.9, 0]], load: 0.9, c: [25, 10, 2] },
        { at: 500, api: [[0.9, 500]], load: 0.9, c: [13, 5, 1] },
        { at: 2001, api: [[0.9, 500]], load: null, c: [50, 20, 4] },
        { at: 2500, api: [], load: null, c: [50, 20, 4] },
      ],
    ],
    [
      'ignores a reading from a clock more than 1.5 s ahead',
      [{ at: 0, api: [[0.95, 1501]], load: null, c: [50, 20, 4] }],
    ],
  ])('%s', (_name, steps) => {
    expect(run(steps)).toEqual(steps.map(({ load, c }) => ({ load, c })));
  });
});

describe('API load readings in Redis', () => {
  it('round-trip through the hash field format', () => {
    const raw = formatApiLoad({ utilization: 0.87654, measuredAt: 1765000000123 });
    expect(raw).toBe('{"utilization":0.877,"measuredAt":1765000000123}');
    expect(parseApiLoad('h:1', raw)).toEqual({
      source: 'h:1',
      utilization: 0.877,
      measuredAt: 1765000000123,
    });
  });

  it.each(['', 'garbage', '{}', '{"utilization":"high","measuredAt":1}', '{"utilization":0.5}'])(
    'reads %j as no reading',
    (raw) => {
      expect(parseApiLoad('h:1', raw)).toBeNull();
    },
  );
});
