import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** README.md and every Markdown file under docs/. */
const DOCS = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f)),
];

/** The text a reader sees as prose: fenced blocks and inline code spans removed. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower-cased, punctuation dropped, spaces to `-`, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = m[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every relative link target `[text](target)` of a Markdown file. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
    .map((m) => m[1])
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

describe('relative links in README.md and docs/*.md', () => {
  const cases = DOCS.flatMap((file) =>
    relativeLinks(readFileSync(file, 'utf8')).map((target) => ({
      doc: relative(ROOT, file),
      target,
    })),
  );

  it('finds the links it checks (docs/ARCHITECTURE.md links the files on a message path)', () => {
    expect(cases.filter((c) => c.doc === 'docs/ARCHITECTURE.md').length).toBeGreaterThan(30);
  });

  it.each(cases.map((c) => [c.doc, c.target]))('%s → %s exists', (doc, target) => {
    const [path, anchor] = target.split('#');
    const file = path === '' ? join(ROOT, doc) : join(dirname(join(ROOT, doc)), decodeURI(path));
    expect({ target, exists: existsSync(file) }).toEqual({ target, exists: true });
    if (anchor && file.endsWith('.md') && statSync(file).isFile()) {
      const anchors = anchorsOf(readFileSync(file, 'utf8'));
      expect({ target, anchor: anchors.has(anchor) }).toEqual({ target, anchor: true });
    }
  });
});
