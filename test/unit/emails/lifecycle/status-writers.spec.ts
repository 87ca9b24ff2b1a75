import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..', '..');
const SRC = join(ROOT, 'src');

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );

/** The two repositories that may change a message's status (docs/ARCHITECTURE.md "Message lifecycle"). */
const WRITERS = [
  'src/modules/emails/lifecycle/transitions.repository.ts',
  'src/modules/emails/lifecycle/delivery-transitions.repository.ts',
];

/** The SET list of every `UPDATE email_logs … SET … WHERE/FROM/RETURNING` in a source file. */
export function emailLogUpdateSets(source: string): string[] {
  return [
    ...source.matchAll(
      /\bUPDATE\s+email_logs\b[^`]*?\bSET\b([\s\S]*?)(?=\bWHERE\b|\bFROM\b|\bRETURNING\b|`)/gi,
    ),
  ].map((m) => m[1]);
}

/**
 * Only the lifecycle repositories issue status UPDATEs, each guarded by the transition table.
 * Imports of those repositories are held by `lifecycle-writers-only` in .dependency-cruiser.js;
 * this holds the SQL itself: no other file sets `email_logs.status`, by SQL or through TypeORM.
 */
describe('who changes a message status', () => {
  const files = sources(SRC).map((f) => ({
    path: relative(ROOT, f).split('\\').join('/'),
    text: readFileSync(f, 'utf8'),
  }));

  it('recognises a status UPDATE (the check below is not vacuous)', () => {
    expect(
      emailLogUpdateSets("`UPDATE email_logs e SET status = 'sent', x = 1 WHERE e.id = $1`"),
    ).toEqual([" status = 'sent', x = 1 "]);
    const writers = files.filter((f) => WRITERS.includes(f.path));
    expect(writers).toHaveLength(2);
    for (const w of writers)
      expect(emailLogUpdateSets(w.text).some((set) => /\bstatus\s*=/.test(set))).toBe(true);
  });

  it('every status UPDATE records the status it leaves (the exact from_status of its outbox row)', () => {
    const writers = files.filter((f) => WRITERS.includes(f.path));
    const statusSets = writers.flatMap((w) =>
      emailLogUpdateSets(w.text).filter((set) => /\bstatus\s*=/.test(set)),
    );
    expect(statusSets.length).toBeGreaterThanOrEqual(8);
    for (const set of statusSets) expect(set).toMatch(/\$\{leaveStatusSql\('\w+'\)\}/);
  });

  it('no file outside the lifecycle repositories sets email_logs.status', () => {
    const offending = files
      .filter((f) => !WRITERS.includes(f.path))
      .filter(
        (f) =>
          emailLogUpdateSets(f.text).some((set) => /\bstatus\s*=/.test(set)) ||
          // TypeORM writes through the entity (update/save/upsert of EmailLog).
          /\.(update|save|upsert|insert)\(\s*EmailLog\b/.test(f.text) ||
          /Repository<EmailLog>[\s\S]*\.(update|save|upsert|insert|increment)\(/.test(f.text),
      )
      .map((f) => f.path);
    expect(offending).toEqual([]);
  });
});
