/**
 * Geometry of the overview's 24-hour chart as plain numbers, so the Handlebars view only
 * prints attributes (no arithmetic in templates) and the layout is unit-testable. Two panels
 * share the hour axis: volume (sent, delivered; lines) on top and problems (bounced,
 * complained; bars) below, each with its own scale, so a 2 % bounce rate is still visible
 * next to thousands of deliveries.
 */

export const CHART_SERIES = ['sent', 'delivered', 'bounced', 'complained'] as const;
export type ChartSeries = (typeof CHART_SERIES)[number];

export interface ChartPoint {
  /** Start of the hour, ISO 8601. */
  at: string;
  sent: number;
  delivered: number;
  bounced: number;
  complained: number;
}

export interface ChartGridline {
  y: number;
  x1: number;
  x2: number;
  label: string;
  labelX: number;
  labelY: number;
}

export interface ChartPanel {
  title: string;
  titleX: number;
  titleY: number;
  top: number;
  bottom: number;
  x1: number;
  x2: number;
  gridlines: ChartGridline[];
}

export interface ChartHourTick {
  x: number;
  y1: number;
  y2: number;
  label: string;
  labelY: number;
  major: boolean;
}

export interface ChartCircle {
  series: ChartSeries;
  hour: string;
  value: number;
  cx: number;
  cy: number;
  r: number;
  title: string;
}

export interface ChartBar {
  series: ChartSeries;
  hour: string;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
}

export interface ChartBand {
  hour: string;
  x: number;
  y: number;
  width: number;
  height: number;
  current: boolean;
  title: string;
}

export interface ChartModel {
  width: number;
  height: number;
  legend: Array<{
    series: ChartSeries;
    label: string;
    x: number;
    y: number;
    textX: number;
    textY: number;
  }>;
  /** Where the "no messages" note goes when the window is empty. */
  emptyX: number;
  emptyY: number;
  panels: ChartPanel[];
  ticks: ChartHourTick[];
  bands: ChartBand[];
  lines: Array<{ series: ChartSeries; points: string }>;
  circles: ChartCircle[];
  bars: ChartBar[];
  /** Nothing was sent, delivered, bounced or complained in the window. */
  empty: boolean;
  /** Plain-text summary for screen readers (the SVG's <desc>). */
  description: string;
}

const WIDTH = 960;
const LEFT = 64;
const RIGHT = 20;
const VOLUME = { top: 48, bottom: 196 };
const PROBLEMS = { top: 236, bottom: 304 };
const AXIS_LABEL_Y = 326;
const HEIGHT = 338;
const POINT_RADIUS = 3.5;

const LABELS: Record<ChartSeries, string> = {
  sent: 'Sent',
  delivered: 'Delivered',
  bounced: 'Bounced',
  complained: 'Complained',
};

const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * The smallest "nice" scale (steps of 1, 2 or 5 × 10ⁿ, whole numbers) whose top is at least
 * `max`, with about `ticks` steps. An all-zero series still gets a scale of `ticks` units.
 */
export function niceScale(max: number, ticks: number): { top: number; step: number } {
  if (!(max > 0)) return { top: ticks, step: 1 };
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude);
  return { top: Math.ceil(max / step) * step, step };
}

/** 950, 1.2k, 15k, 2.5M: short labels for the y axis. */
export function compactNumber(n: number): string {
  const fmt = (v: number, unit: string): string =>
    `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 1 : 0).replace(/\.0$/, '')}${unit}`;
  if (n >= 1_000_000) return fmt(n / 1_000_000, 'M');
  if (n >= 1_000) return fmt(n / 1_000, 'k');
  return String(n);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const hh = (d: Date): string => `${String(d.getUTCHours()).padStart(2, '0')}:00`;

function gridlines(
  panel: { top: number; bottom: number },
  scale: { top: number; step: number },
): ChartGridline[] {
  const out: ChartGridline[] = [];
  for (let v = 0; v <= scale.top; v += scale.step) {
    const y = round(panel.bottom - (v / scale.top) * (panel.bottom - panel.top));
    out.push({
      y,
      x1: LEFT,
      x2: WIDTH - RIGHT,
      label: compactNumber(v),
      labelX: LEFT - 8,
      labelY: round(y + 4),
    });
  }
  return out;
}

/**
 * Builds the chart for hourly points (oldest first). `now` marks the bucket still filling up.
 */
export function buildOverviewChart(points: ChartPoint[], now: Date): ChartModel {
  const n = Math.max(points.length, 1);
  const band = (WIDTH - LEFT - RIGHT) / n;
  const center = (i: number): number => round(LEFT + band * (i + 0.5));
  const volume = niceScale(Math.max(0, ...points.flatMap((p) => [p.sent, p.delivered])), 4);
  const problems = niceScale(Math.max(0, ...points.flatMap((p) => [p.bounced, p.complained])), 2);
  const yOf = (v: number, panel: { top: number; bottom: number }, top: number): number =>
    round(panel.bottom - (v / top) * (panel.bottom - panel.top));
  const currentHour = Math.floor(now.getTime() / 3600_000) * 3600_000;

  const circles: ChartCircle[] = [];
  const bars: ChartBar[] = [];
  const bands: ChartBand[] = [];
  const ticks: ChartHourTick[] = [];
  const barWidth = round(Math.min(14, band * 0.34));

  points.forEach((p, i) => {
    const at = new Date(p.at);
    const label = `${at.toISOString().slice(0, 10)} ${hh(at)} UTC`;
    for (const series of ['sent', 'delivered'] as const) {
      circles.push({
        series,
        hour: p.at,
        value: p[series],
        cx: center(i),
        cy: yOf(p[series], VOLUME, volume.top),
        r: POINT_RADIUS,
        title: `${label}: ${p[series]} ${series}`,
      });
    }
    (['bounced', 'complained'] as const).forEach((series, j) => {
      const y = yOf(p[series], PROBLEMS, problems.top);
      bars.push({
        series,
        hour: p.at,
        value: p[series],
        x: round(center(i) + (j === 0 ? -barWidth - 1 : 1)),
        y,
        width: barWidth,
        height: round(PROBLEMS.bottom - y),
        title: `${label}: ${p[series]} ${series}`,
      });
    });
    bands.push({
      hour: p.at,
      x: round(LEFT + band * i),
      y: VOLUME.top - 14,
      width: round(band),
      height: PROBLEMS.bottom + 6 - (VOLUME.top - 14),
      current: at.getTime() === currentHour,
      title: `${label} — sent ${p.sent}, delivered ${p.delivered}, bounced ${p.bounced}, complained ${p.complained}`,
    });
    if (at.getUTCHours() % 3 === 0) {
      const midnight = at.getUTCHours() === 0;
      ticks.push({
        x: center(i),
        y1: VOLUME.top,
        y2: PROBLEMS.bottom,
        label: midnight ? `${MONTHS[at.getUTCMonth()]} ${at.getUTCDate()}` : hh(at),
        labelY: AXIS_LABEL_Y,
        major: midnight,
      });
    }
  });

  const totals = Object.fromEntries(
    CHART_SERIES.map((s) => [s, points.reduce((acc, p) => acc + p[s], 0)]),
  ) as Record<ChartSeries, number>;
  const first = points[0]?.at ?? now.toISOString();
  const last = points[points.length - 1]?.at ?? now.toISOString();

  return {
    width: WIDTH,
    height: HEIGHT,
    legend: CHART_SERIES.map((series, i) => ({
      series,
      label: LABELS[series],
      x: LEFT + i * 120,
      y: 4,
      textX: LEFT + i * 120 + 18,
      textY: 14,
    })),
    emptyX: round(LEFT + (WIDTH - LEFT - RIGHT) / 2),
    emptyY: round((VOLUME.top + VOLUME.bottom) / 2),
    panels: [
      {
        title: 'Messages per hour',
        titleX: LEFT,
        titleY: VOLUME.top - 12,
        top: VOLUME.top,
        bottom: VOLUME.bottom,
        x1: LEFT,
        x2: WIDTH - RIGHT,
        gridlines: gridlines(VOLUME, volume),
      },
      {
        title: 'Bounces and complaints per hour',
        titleX: LEFT,
        titleY: PROBLEMS.top - 12,
        top: PROBLEMS.top,
        bottom: PROBLEMS.bottom,
        x1: LEFT,
        x2: WIDTH - RIGHT,
        gridlines: gridlines(PROBLEMS, problems),
      },
    ],
    ticks,
    bands,
    lines: (['sent', 'delivered'] as const).map((series) => ({
      series,
      points: circles
        .filter((c) => c.series === series)
        .map((c) => `${c.cx},${c.cy}`)
        .join(' '),
    })),
    circles,
    bars,
    empty: CHART_SERIES.every((s) => totals[s] === 0),
    description:
      `Hourly messages from ${first} to ${last} (UTC): ` +
      CHART_SERIES.map((s) => `${totals[s]} ${s}`).join(', ') +
      '.',
  };
}
