import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'node_modules' || e.name === 'fixtures' || e.name === 'artifacts'
        ? []
        : sources(join(dir, e.name))
      : /\.(ts|js|mjs|cjs)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );

const CODE = ['src', 'test', 'bench', 'scripts', 'migrations'].flatMap((d) =>
  sources(join(ROOT, d)),
);

/** The headings of a Markdown file, as written (without the #s). */
const headings = (file: string): string[] =>
  [
    ...readFileSync(join(ROOT, file), 'utf8')
      .replace(/^```[\s\S]*?^```/gm, '')
      .matchAll(/^#{1,6}\s+(.+?)\s*$/gm),
  ].map((m) => m[1].replace(/`/g, '').toLowerCase());

/** Citations of README or docs/ARCHITECTURE.md sections by quoted heading, in a comment or title. */
function citations(text: string, doc: RegExp): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(
    new RegExp(`${doc.source}[,:]?((?:\\s*(?:\\*\\s+)?"[^"\\n]+"[,;]?)+)`, 'g'),
  ))
    for (const q of m[1].matchAll(/"([^"\n]+)"/g)) found.push(q[1]);
  return found;
}

/**
 * Code cites the project's own documentation (README sections, docs/ARCHITECTURE.md), never a
 * document that is not part of the repository; and every cited section exists, so a renamed
 * heading shows up here rather than as a dangling reference.
 */
describe('documentation citations in code', () => {
  it('cite no specification that is not part of the repository', () => {
    const offending = CODE.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${relative(ROOT, f)}:${i + 1}` }))
        .filter(({ line }) => /\bSPEC\b(\s*§|\.md)|\.\.\/shared\b/.test(line))
        .map(({ at }) => at),
    );
    expect(offending).toEqual([]);
  });

  it.each([
    ['README.md', /\bREADME(?!\.md)/],
    ['docs/ARCHITECTURE.md', /\bdocs\/ARCHITECTURE\.md/],
  ])('name sections that exist in %s', (file, pattern) => {
    const known = headings(file);
    const dangling = CODE.flatMap((f) =>
      citations(readFileSync(f, 'utf8'), pattern)
        .filter((name) => !known.some((h) => h.startsWith(name.replace(/`/g, '').toLowerCase())))
        .map((name) => `${relative(ROOT, f)}: "${name}"`),
    );
    expect(dangling).toEqual([]);
  });
});
