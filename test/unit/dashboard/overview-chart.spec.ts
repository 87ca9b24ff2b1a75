import {
  buildOverviewChart,
  compactNumber,
  niceScale,
  type ChartPoint,
} from 'src/modules/dashboard/overview-chart';

const HOUR_MS = 3600_000;
const NOW = new Date('2026-11-28T07:20:00Z');

/** 24 hours ending with the one holding NOW. */
function day(fill: (i: number) => Omit<ChartPoint, 'at'>): ChartPoint[] {
  const first = Date.parse('2026-11-28T07:00:00Z') - 23 * HOUR_MS;
  return Array.from({ length: 24 }, (_, i) => ({
    at: new Date(first + i * HOUR_MS).toISOString(),
    ...fill(i),
  }));
}

describe(niceScale.name, () => {
  it.each([
    [0, 4, { top: 4, step: 1 }],
    [3, 2, { top: 4, step: 2 }],
    [7, 4, { top: 8, step: 2 }],
    [1480, 4, { top: 1500, step: 500 }],
    [1501, 4, { top: 2000, step: 500 }],
    [100, 4, { top: 100, step: 50 }],
    [82, 2, { top: 100, step: 50 }],
  ])('max %d in about %d steps → %j', (max, ticks, expected) => {
    expect(niceScale(max, ticks)).toEqual(expected);
  });

  it('always covers the maximum with whole-number steps', () => {
    for (let max = 1; max < 5000; max += 37) {
      const { top, step } = niceScale(max, 4);
      expect(top).toBeGreaterThanOrEqual(max);
      expect(Number.isInteger(step)).toBe(true);
      expect(top % step).toBe(0);
    }
  });
});

describe(compactNumber.name, () => {
  it.each([
    [0, '0'],
    [950, '950'],
    [1000, '1k'],
    [1500, '1.5k'],
    [15000, '15k'],
    [2_500_000, '2.5M'],
  ])('%d → %s', (n, text) => expect(compactNumber(n)).toBe(text));
});

describe(buildOverviewChart.name, () => {
  const points = day((i) => ({
    sent: 100 + i,
    delivered: 90 + i,
    bounced: i % 5,
    complained: i % 2,
  }));
  const chart = buildOverviewChart(points, NOW);

  it('has one mark per hour and series carrying the hour and the value', () => {
    expect(chart.circles).toHaveLength(48);
    expect(chart.bars).toHaveLength(48);
    for (const [i, p] of points.entries()) {
      for (const s of ['sent', 'delivered'] as const) {
        expect(chart.circles.find((c) => c.series === s && c.hour === p.at)?.value).toBe(p[s]);
      }
      for (const s of ['bounced', 'complained'] as const) {
        expect(chart.bars.find((b) => b.series === s && b.hour === p.at)?.value).toBe(p[s]);
      }
      expect(chart.bands[i].hour).toBe(p.at);
    }
  });

  it('draws to scale: the top gridline is the scale top, bigger values sit higher or stand taller', () => {
    const [volume, problems] = chart.panels;
    expect(volume.gridlines.map((g) => g.label)).toEqual(['0', '50', '100', '150']);
    expect(problems.gridlines.map((g) => g.label)).toEqual(['0', '2', '4']);
    const sent = chart.circles.filter((c) => c.series === 'sent');
    for (let i = 1; i < sent.length; i++) expect(sent[i].cy).toBeLessThan(sent[i - 1].cy);
    const bounced = chart.bars.filter((b) => b.series === 'bounced');
    const four = bounced.find((b) => b.value === 4)!;
    const two = bounced.find((b) => b.value === 2)!;
    expect(four.height).toBeCloseTo(two.height * 2, 1);
    expect(four.y + four.height).toBeCloseTo(problems.bottom, 5);
    expect(bounced.find((b) => b.value === 0)!.height).toBe(0);
  });

  it('marks the hour in progress, labels every third hour, and days at midnight', () => {
    expect(chart.bands.filter((b) => b.current).map((b) => b.hour)).toEqual([
      '2026-11-28T07:00:00.000Z',
    ]);
    expect(chart.ticks.map((t) => t.label)).toEqual([
      '09:00',
      '12:00',
      '15:00',
      '18:00',
      '21:00',
      'Nov 28',
      '03:00',
      '06:00',
    ]);
    expect(chart.ticks.filter((t) => t.major).map((t) => t.label)).toEqual(['Nov 28']);
  });

  it('says when the window is empty, and still draws a scale', () => {
    const empty = buildOverviewChart(
      day(() => ({ sent: 0, delivered: 0, bounced: 0, complained: 0 })),
      NOW,
    );
    expect(empty.empty).toBe(true);
    expect(chart.empty).toBe(false);
    expect(empty.panels[0].gridlines).toHaveLength(5);
    expect(empty.circles.every((c) => c.cy === empty.panels[0].bottom)).toBe(true);
  });

  it('describes the totals for screen readers', () => {
    expect(chart.description).toContain(`${points.reduce((a, p) => a + p.sent, 0)} sent`);
  });
});
