/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it is true; false when `timeoutMs` passes first. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 10,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(everyMs);
  }
}

/** One line of the report: a figure, what it is compared with, and whether it met its target. */
export interface ReportLine {
  figure: string;
  target: string;
  measured: string;
  baseline: string;
  /** null: informational, no target. */
  pass: boolean | null;
}

export function formatTable(lines: ReportLine[]): string {
  const head = ['Figure', 'Target', 'Measured', 'Raw baseline', 'Result'];
  const rows = lines.map((l) => [
    l.figure,
    l.target,
    l.measured,
    l.baseline,
    l.pass === null ? 'info' : l.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [fmt(head), rule, ...rows.map(fmt)].join('\n');
}

/** A Markdown table of any cells, each column as wide as its widest cell. */
export function formatColumns(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [fmt(head), rule, ...rows.map(fmt)].join('\n');
}

/** The verdict of a ReportLine as the table prints it. */
export const verdict = (pass: boolean | null): string =>
  pass === null ? 'info' : pass ? 'PASS' : 'FAIL';
