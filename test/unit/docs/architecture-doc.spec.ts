import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMAIL_STATUSES, type EmailStatus } from 'src/modules/emails/email-log.entity';
import {
  CAUSES,
  FINAL_STATUSES,
  sourcesFor,
  TRANSITIONS,
  type TransitionCause,
} from 'src/modules/emails/lifecycle/transitions';

const ROOT = join(__dirname, '..', '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');

/** The body of the one ```mermaid block holding a stateDiagram. */
function stateDiagram(markdown: string): string {
  const blocks = [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((b) => /^\s*stateDiagram/.test(b));
  expect(blocks).toHaveLength(1);
  return blocks[0];
}

interface Edge {
  from: string;
  to: string;
  causes: string[];
}

/** `a --> b : cause, cause` lines; `[*]` stands for "no status" (before accept, after a final). */
function edgesOf(diagram: string): Edge[] {
  const edges: Edge[] = [];
  for (const line of diagram.split('\n')) {
    const m = /^\s*(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)\s*(?::\s*(.*))?$/.exec(line);
    if (!m) continue;
    const causes = (m[3] ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
      .sort();
    edges.push({ from: m[1], to: m[2], causes });
  }
  return edges;
}

const key = (from: string, to: string): string => `${from} --> ${to}`;

/** The causes (lifecycle/transitions.ts CAUSES) that take the edge from → to. */
function causesOf(from: EmailStatus, to: EmailStatus): TransitionCause[] {
  return (Object.keys(CAUSES) as TransitionCause[])
    .filter((c) => CAUSES[c].to === to && sourcesFor(c).includes(from))
    .sort();
}

/** The diagram as it should read, for a failure message that says what to paste. */
function expectedDiagram(): string {
  const lines = ['stateDiagram-v2', `    [*] --> ${CAUSES.accept.to} : accept`];
  for (const from of EMAIL_STATUSES)
    for (const to of TRANSITIONS[from])
      lines.push(`    ${from} --> ${to} : ${causesOf(from, to).join(', ')}`);
  for (const s of FINAL_STATUSES) lines.push(`    ${s} --> [*]`);
  return lines.join('\n');
}

describe('docs/ARCHITECTURE.md state diagram', () => {
  const edges = edgesOf(stateDiagram(DOC));
  const hint = `\nExpected diagram:\n${expectedDiagram()}\n`;

  it('has exactly the edges of TRANSITIONS (src/modules/emails/lifecycle/transitions.ts)', () => {
    const drawn = edges
      .filter((e) => e.from !== '[*]' && e.to !== '[*]')
      .map((e) => key(e.from, e.to))
      .sort();
    const table = EMAIL_STATUSES.flatMap((from) => TRANSITIONS[from].map((to) => key(from, to)));
    if (JSON.stringify(drawn) !== JSON.stringify([...table].sort())) console.error(hint);
    expect(drawn).toEqual([...table].sort());
  });

  it('labels each edge with the causes that take it', () => {
    for (const e of edges.filter((x) => x.from !== '[*]' && x.to !== '[*]')) {
      const expected = causesOf(e.from as EmailStatus, e.to as EmailStatus);
      if (JSON.stringify(e.causes) !== JSON.stringify(expected)) console.error(hint);
      expect({ edge: key(e.from, e.to), causes: e.causes }).toEqual({
        edge: key(e.from, e.to),
        causes: expected,
      });
    }
  });

  it('starts at the accept status and ends at the final statuses', () => {
    const starts = edges.filter((e) => e.from === '[*]');
    expect(starts).toEqual([{ from: '[*]', to: CAUSES.accept.to, causes: ['accept'] }]);
    const ends = edges
      .filter((e) => e.to === '[*]')
      .map((e) => e.from)
      .sort();
    expect(ends).toEqual([...FINAL_STATUSES].sort());
  });
});
