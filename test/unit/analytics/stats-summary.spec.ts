import { ValidationFailedError } from 'src/common/errors/app-error';
import { HourlyCounts, zeroCounts } from 'src/modules/analytics/hourly-counts';
import {
  bucketStarts,
  buildSeries,
  mergeDomains,
  ratesDto,
  resolveStatsWindow,
} from 'src/modules/analytics/stats-summary';

const c = (sent: number, more: Partial<HourlyCounts> = {}): HourlyCounts => ({
  ...zeroCounts(),
  sent,
  ...more,
});
const d = (s: string) => new Date(s);

describe('stats summary', () => {
  const now = d('2026-11-28T10:17:00Z');

  describe(resolveStatsWindow.name, () => {
    it('defaults to the 24 hours ending with the current one, hourly', () => {
      expect(resolveStatsWindow({}, now)).toEqual({
        from: d('2026-11-27T11:00:00Z'),
        to: d('2026-11-28T11:00:00Z'),
        unit: 'hour',
      });
    });

    it('rounds from down and to up to whole hours', () => {
      expect(
        resolveStatsWindow(
          { from: '2026-11-01T05:59:59Z', to: '2026-11-02T07:00:01+00:00', granularity: 'day' },
          now,
        ),
      ).toEqual({ from: d('2026-11-01T05:00:00Z'), to: d('2026-11-02T08:00:00Z'), unit: 'day' });
    });

    it('keeps a bound already on the hour, and honours zone offsets', () => {
      expect(
        resolveStatsWindow({ from: '2026-11-01T02:00:00+02:00', to: '2026-11-02' }, now),
      ).toEqual({ from: d('2026-11-01T00:00:00Z'), to: d('2026-11-02T00:00:00Z'), unit: 'hour' });
    });

    it('takes 24 hours before `to` when only `to` is given', () => {
      expect(resolveStatsWindow({ to: '2026-11-02T00:00:00Z' }, now).from).toEqual(
        d('2026-11-01T00:00:00Z'),
      );
    });

    it.each([
      ['from after to', { from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' }, 'from'],
      ['from equal to to', { from: '2026-11-02T00:00:00Z', to: '2026-11-02T00:00:00Z' }, 'from'],
      ['from in the future without to', { from: '2026-12-01T00:00:00Z' }, 'from'],
      ['a window over 400 days', { from: '2025-01-01', to: '2026-02-05T00:00:01Z' }, 'to'],
    ])('rejects %s naming the field', (_, q, field) => {
      expect(() => resolveStatsWindow(q, now)).toThrow(ValidationFailedError);
      try {
        resolveStatsWindow(q, now);
      } catch (err) {
        expect((err as ValidationFailedError).details).toEqual([
          { field, message: expect.any(String) },
        ]);
      }
    });

    it('accepts exactly 400 days', () => {
      expect(() => resolveStatsWindow({ from: '2025-01-01', to: '2026-02-05' }, now)).not.toThrow();
    });
  });

  describe(bucketStarts.name, () => {
    it('lists every hour of the window', () => {
      const w = {
        from: d('2026-11-01T22:00:00Z'),
        to: d('2026-11-02T01:00:00Z'),
        unit: 'hour' as const,
      };
      expect(bucketStarts(w)).toEqual([
        d('2026-11-01T22:00:00Z'),
        d('2026-11-01T23:00:00Z'),
        d('2026-11-02T00:00:00Z'),
      ]);
    });

    it('lists UTC days, the first one holding `from`', () => {
      const w = {
        from: d('2026-11-01T22:00:00Z'),
        to: d('2026-11-03T01:00:00Z'),
        unit: 'day' as const,
      };
      expect(bucketStarts(w)).toEqual([
        d('2026-11-01T00:00:00Z'),
        d('2026-11-02T00:00:00Z'),
        d('2026-11-03T00:00:00Z'),
      ]);
    });
  });

  describe(buildSeries.name, () => {
    it('adds stored sums and live rows into their buckets and fills the rest with zeros', () => {
      const w = {
        from: d('2026-11-01T22:00:00Z'),
        to: d('2026-11-02T02:00:00Z'),
        unit: 'day' as const,
      };
      const series = buildSeries(
        w,
        [{ at: d('2026-11-01T00:00:00Z'), ...c(5) }],
        [
          {
            hour: d('2026-11-02T01:00:00Z'),
            stream: null,
            domain: null,
            ...c(2, { delivered: 1 }),
          },
          { hour: d('2026-11-01T23:00:00Z'), stream: null, domain: null, ...c(1) },
        ],
      );

      expect(series).toEqual([
        { at: d('2026-11-01T00:00:00Z'), counts: c(6) },
        { at: d('2026-11-02T00:00:00Z'), counts: c(2, { delivered: 1 }) },
      ]);
    });
  });

  describe(mergeDomains.name, () => {
    it('adds live rows to stored sums, then keeps the busiest by sent, ties by name', () => {
      const merged = mergeDomains(
        [
          { domain: 'a.test', ...c(10) },
          { domain: 'b.test', ...c(9) },
          { domain: 'c.test', ...c(3) },
        ],
        [
          { hour: now, stream: null, domain: 'c.test', ...c(7, { bouncedHard: 1 }) },
          { hour: now, stream: null, domain: 'd.test', ...c(1) },
          { hour: now, stream: null, domain: null, ...c(100) },
        ],
        3,
      );

      expect(merged.map((m) => [m.domain, m.sent])).toEqual([
        ['a.test', 10],
        ['c.test', 10],
        ['b.test', 9],
      ]);
      expect(merged[1]).toEqual({
        domain: 'c.test',
        sent: 10,
        delivered: 0,
        bounced: 1,
        complained: 0,
        bounce_rate: 10,
        complaint_rate: 0,
      });
    });
  });

  describe(ratesDto.name, () => {
    it('rates opens and clicks over delivered, the rest over sent', () => {
      expect(
        ratesDto(
          c(200, { delivered: 150, bouncedSoft: 10, complained: 1, opened: 50, clicked: 3 }),
        ),
      ).toEqual({
        delivery_rate: 75,
        bounce_rate: 5,
        complaint_rate: 0.5,
        open_rate: 33.33,
        click_rate: 2,
      });
    });
  });
});
