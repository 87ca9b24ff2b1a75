import { open } from 'node:fs/promises';
import { SUPPRESSION_SCOPES, type SuppressionScope } from 'src/common/streams';
import { isEmail } from 'class-validator';
import { Command, CommandRunner, Option } from 'nest-commander';
import {
  BLACKLIST_REASONS,
  BlacklistReason,
  BlacklistService,
  SuppressionInput,
} from 'src/modules/blacklist/blacklist.service';
import {
  BLACKLIST_DETAILS_MAX_LENGTH,
  BLACKLIST_EMAIL_MAX_LENGTH,
  BLACKLIST_EXPIRES_IN_MAX_S,
  BLACKLIST_EXPIRES_IN_MIN_S,
  BLACKLIST_SOURCE_MAX_LENGTH,
} from 'src/modules/blacklist/dto/blacklist-create.dto';

/** One CSV record and the physical line (1-based) it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
  /** Set when the file ended inside a quoted field. */
  unterminated?: true;
}

/**
 * Incremental RFC 4180 parser: feed text chunks with push(), then call end(). Fields may be
 * quoted (`"a, ""b"""`), quoted fields may hold commas and line breaks; records end at LF,
 * CRLF or CR. Lenient where the RFC is strict: a quote inside an unquoted field is kept as
 * text. Blank lines are skipped; a leading UTF-8 BOM is dropped.
 */
export class CsvParser {
  private fields: string[] = [];
  private field = '';
  private state: 'start' | 'unquoted' | 'quoted' | 'quote_in_quoted' = 'start';
  private line = 1;
  private recordLine = 1;
  private recordStarted = false;
  private skipLf = false;
  private first = true;

  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    let i = 0;
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    for (; i < text.length; i++) {
      const c = text[i];
      if (this.skipLf) {
        this.skipLf = false;
        if (c === '\n') continue;
      }
      switch (this.state) {
        case 'quoted':
          if (c === '"') this.state = 'quote_in_quoted';
          else {
            if (c === '\n') this.line += 1;
            this.field += c;
          }
          continue;
        case 'quote_in_quoted':
          if (c === '"') {
            this.field += '"';
            this.state = 'quoted';
            continue;
          }
          this.state = 'unquoted'; // the quote closed the field; handle c below
          break;
        case 'start':
          if (c === '"') {
            this.state = 'quoted';
            this.recordStarted = true;
            continue;
          }
          break;
        case 'unquoted':
          break;
      }
      if (c === ',') {
        this.fields.push(this.field);
        this.field = '';
        this.state = 'start';
        this.recordStarted = true;
      } else if (c === '\n' || c === '\r') {
        this.finishRecord(out);
        this.line += 1;
        this.recordLine = this.line;
        this.skipLf = c === '\r';
      } else {
        this.field += c;
        this.state = 'unquoted';
        this.recordStarted = true;
      }
    }
    return out;
  }

  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    if (this.state === 'quoted') {
      this.fields.push(this.field);
      out.push({ line: this.recordLine, fields: this.fields, unterminated: true });
      this.reset();
    } else {
      this.finishRecord(out);
    }
    return out;
  }

  private finishRecord(out: CsvRecord[]): void {
    if (this.recordStarted) {
      this.fields.push(this.field);
      out.push({ line: this.recordLine, fields: this.fields });
    }
    this.reset();
  }

  private reset(): void {
    this.fields = [];
    this.field = '';
    this.state = 'start';
    this.recordStarted = false;
  }
}

interface ImportOptions {
  reason: BlacklistReason;
  /** README "Streams": `all` (default) or one stream, for rows without a `scope` cell. */
  scope?: SuppressionScope;
  source: string;
}

export interface ImportResult {
  imported: number;
  skipped: number;
  /** First invalid line numbers, at most MAX_REPORTED_LINES. */
  invalidLines: number[];
}

const CHUNK_SIZE = 1000;
const MAX_REPORTED_LINES = 10;

@Command({
  name: 'blacklist:import',
  arguments: '<csv>',
  description:
    'Import suppressions from a CSV with a header row: email (required), reason, scope, details, expires_in',
})
export class BlacklistImportCommand extends CommandRunner {
  constructor(private readonly blacklist: BlacklistService) {
    super();
  }

  async run([path]: string[], options: ImportOptions): Promise<void> {
    const result = await this.importFile(path, {
      reason: options.reason ?? 'manual',
      scope: options.scope ?? 'all',
      source: options.source ?? 'import',
    });
    process.stdout.write(`imported ${result.imported}, skipped ${result.skipped} (invalid)\n`);
    if (result.invalidLines.length > 0) {
      const more = result.skipped > result.invalidLines.length ? ', …' : '';
      process.stdout.write(`invalid lines: ${result.invalidLines.join(', ')}${more}\n`);
    }
  }

  /** Streams the file and upserts valid rows in chunks of 1,000. */
  async importFile(path: string, options: ImportOptions): Promise<ImportResult> {
    const file = await open(path, 'r').catch((err: Error) => {
      throw new Error(`cannot read ${path}: ${err.message}`);
    });
    try {
      if (!(await file.stat()).isFile()) throw new Error(`cannot read ${path}: not a file`);
      const parser = new CsvParser();
      const result: ImportResult = { imported: 0, skipped: 0, invalidLines: [] };
      let columns: Map<string, number> | undefined;
      let chunk: SuppressionInput[] = [];

      const take = async (records: CsvRecord[]): Promise<void> => {
        for (const record of records) {
          if (!columns) {
            columns = headerColumns(record, path);
            continue;
          }
          const input = toInput(record, columns, options);
          if (!input) {
            result.skipped += 1;
            if (result.invalidLines.length < MAX_REPORTED_LINES) {
              result.invalidLines.push(record.line);
            }
            continue;
          }
          chunk.push(input);
          if (chunk.length >= CHUNK_SIZE) {
            result.imported += await this.blacklist.addMany(chunk);
            chunk = [];
          }
        }
      };

      for await (const text of file.createReadStream({ encoding: 'utf8' })) {
        await take(parser.push(text as string));
      }
      await take(parser.end());
      if (!columns) throw new Error(`${path} is empty: expected a header row with an email column`);
      if (chunk.length > 0) result.imported += await this.blacklist.addMany(chunk);
      return result;
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  @Option({
    flags: '--reason <reason>',
    description: `Reason for rows without one (${BLACKLIST_REASONS.join(', ')})`,
    defaultValue: 'manual',
  })
  parseReason(value: string): BlacklistReason {
    return (
      parseReasonValue(value) ??
      failOption(`--reason must be one of: ${BLACKLIST_REASONS.join(', ')}`)
    );
  }

  @Option({
    flags: '--scope <scope>',
    description: `Scope for rows without one (${SUPPRESSION_SCOPES.join(', ')}; README "Streams")`,
    defaultValue: 'all',
  })
  parseScope(value: string): SuppressionScope {
    return (
      parseScopeValue(value) ??
      failOption(`--scope must be one of: ${SUPPRESSION_SCOPES.join(', ')}`)
    );
  }

  @Option({ flags: '--source <source>', description: 'Recorded source', defaultValue: 'import' })
  parseSource(value: string): string {
    const source = value.trim();
    if (!source || source.length > BLACKLIST_SOURCE_MAX_LENGTH) {
      failOption(`--source must be 1 to ${BLACKLIST_SOURCE_MAX_LENGTH} characters`);
    }
    return source;
  }
}

function failOption(message: string): never {
  throw new Error(message);
}

function parseReasonValue(value: string): BlacklistReason | null {
  const reason = value.trim().toLowerCase();
  return (BLACKLIST_REASONS as readonly string[]).includes(reason)
    ? (reason as BlacklistReason)
    : null;
}

function parseScopeValue(value: string): SuppressionScope | null {
  const scope = value.trim().toLowerCase();
  return (SUPPRESSION_SCOPES as readonly string[]).includes(scope)
    ? (scope as SuppressionScope)
    : null;
}

function headerColumns(record: CsvRecord, path: string): Map<string, number> {
  const columns = new Map<string, number>();
  record.fields.forEach((name, i) => {
    const key = name.trim().toLowerCase();
    if (!columns.has(key)) columns.set(key, i);
  });
  if (!columns.has('email')) {
    throw new Error(
      `${path} has no "email" column (header: ${record.fields.map((f) => f.trim()).join(', ')})`,
    );
  }
  return columns;
}

/** The row as an add() input, or null when it is invalid. */
function toInput(
  record: CsvRecord,
  columns: Map<string, number>,
  options: ImportOptions,
): SuppressionInput | null {
  if (record.unterminated) return null;
  const cell = (name: string): string => {
    const i = columns.get(name);
    return i === undefined ? '' : (record.fields[i] ?? '').trim();
  };
  const email = cell('email');
  if (email.length > BLACKLIST_EMAIL_MAX_LENGTH || !isEmail(email)) return null;

  const reasonCell = cell('reason');
  const reason = reasonCell ? parseReasonValue(reasonCell) : options.reason;
  if (!reason) return null;

  const scopeCell = cell('scope');
  const scope = scopeCell ? parseScopeValue(scopeCell) : (options.scope ?? 'all');
  if (!scope) return null;

  const details = cell('details');
  if (details.length > BLACKLIST_DETAILS_MAX_LENGTH) return null;

  const expiresCell = cell('expires_in');
  let expiresInS: number | null = null;
  if (expiresCell) {
    if (!/^\d+$/.test(expiresCell)) return null;
    expiresInS = Number(expiresCell);
    if (expiresInS < BLACKLIST_EXPIRES_IN_MIN_S || expiresInS > BLACKLIST_EXPIRES_IN_MAX_S) {
      return null;
    }
  }
  return {
    email,
    reason,
    scope,
    source: options.source,
    details: details || undefined,
    expiresInS,
  };
}
