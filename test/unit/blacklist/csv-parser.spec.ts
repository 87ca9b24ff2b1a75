import fc from 'fast-check';
import { CsvParser, CsvRecord } from 'src/cli/commands/blacklist-import.command';

function parse(text: string, chunkSize = text.length || 1): CsvRecord[] {
  const parser = new CsvParser();
  const out: CsvRecord[] = [];
  for (let i = 0; i < text.length; i += chunkSize)
    out.push(...parser.push(text.slice(i, i + chunkSize)));
  out.push(...parser.end());
  return out;
}

/** RFC 4180 writer: quotes only when needed. */
function toCsv(rows: string[][], eol: string): string {
  const cell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return rows.map((r) => r.map(cell).join(',')).join(eol) + eol;
}

describe(CsvParser.name, () => {
  describe('push/end', () => {
    it('splits plain records with their line numbers', () => {
      expect(parse('email,reason\na@x.io,manual\nb@x.io,\n')).toEqual([
        { line: 1, fields: ['email', 'reason'] },
        { line: 2, fields: ['a@x.io', 'manual'] },
        { line: 3, fields: ['b@x.io', ''] },
      ]);
    });

    it('reads quoted fields with commas, doubled quotes and line breaks', () => {
      expect(parse('email,details\n"a@x.io","said ""stop"", twice\nthen left"\nb@x.io,x')).toEqual([
        { line: 1, fields: ['email', 'details'] },
        { line: 2, fields: ['a@x.io', 'said "stop", twice\nthen left'] },
        { line: 4, fields: ['b@x.io', 'x'] },
      ]);
    });

    it('accepts CRLF and CR line ends and a missing final line end', () => {
      expect(parse('a,b\r\n1,2\r3,4')).toEqual([
        { line: 1, fields: ['a', 'b'] },
        { line: 2, fields: ['1', '2'] },
        { line: 3, fields: ['3', '4'] },
      ]);
    });

    it('skips blank lines but counts them', () => {
      expect(parse('email\n\n\r\na@x.io\n\n')).toEqual([
        { line: 1, fields: ['email'] },
        { line: 4, fields: ['a@x.io'] },
      ]);
    });

    it('keeps an empty quoted field as a record', () => {
      expect(parse('""\n')).toEqual([{ line: 1, fields: [''] }]);
    });

    it('drops a leading byte order mark', () => {
      expect(parse('\uFEFFemail\na@x.io\n')[0]).toEqual({ line: 1, fields: ['email'] });
    });

    it('keeps a stray quote inside an unquoted field as text', () => {
      expect(parse('ab"c,d\n')).toEqual([{ line: 1, fields: ['ab"c', 'd'] }]);
    });

    it('flags a record whose quoted field never closes', () => {
      expect(parse('email\na@x.io\n"b@x.io,\nc@x.io\n')).toEqual([
        { line: 1, fields: ['email'] },
        { line: 2, fields: ['a@x.io'] },
        { line: 3, fields: ['b@x.io,\nc@x.io\n'], unterminated: true },
      ]);
    });

    it('gives the same records however the text is split into chunks', () => {
      const text = 'e,d\r\n"a@x.io","x\r\n""y"""\r\nb@x.io,z\r\n';
      const whole = parse(text);
      for (let size = 1; size <= text.length; size++) expect(parse(text, size)).toEqual(whole);
    });

    it('reads back whatever an RFC 4180 writer wrote, in any chunking', () => {
      const cellArb = fc.string({
        unit: fc.constantFrom('a', 'b', ',', '"', '\n', '\r', ' ', 'é'),
      });
      const rowsArb = fc.array(fc.array(cellArb, { minLength: 1, maxLength: 4 }), {
        minLength: 1,
        maxLength: 6,
      });
      fc.assert(
        fc.property(
          rowsArb,
          fc.constantFrom('\n', '\r\n'),
          fc.integer({ min: 1, max: 7 }),
          (rows, eol, size) => {
            // A lone empty cell is a blank line, which the parser skips by design.
            const kept = rows.filter((r) => !(r.length === 1 && r[0] === ''));
            const text = toCsv(kept, eol);
            expect(parse(text, size).map((r) => r.fields)).toEqual(kept);
          },
        ),
      );
    });
  });
});
