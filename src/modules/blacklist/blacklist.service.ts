import { Injectable } from '@nestjs/common';
import { MicroBatcher } from 'src/common/batching/micro-batcher';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { keysetCursor } from 'src/common/pagination/keyset-cursor';
import { parsePositiveInt4 } from 'src/common/validation/db-int';
import { SUPPRESSION_SCOPES, type Stream, type SuppressionScope } from 'src/common/streams';
import {
  BLACKLIST_REASONS,
  type BlacklistReason,
} from 'src/modules/blacklist/blacklist-entry.entity';
import {
  BlacklistKeyset,
  BlacklistRepository,
  BlacklistRow,
  BlacklistUpsertRow,
  REASON_STRENGTH,
} from 'src/modules/blacklist/blacklist.repository';
import {
  BLACKLIST_EMAIL_MAX_LENGTH,
  BLACKLIST_SOURCE_MAX_LENGTH,
} from 'src/modules/blacklist/dto/blacklist-create.dto';
import {
  BLACKLIST_LIST_DEFAULT_LIMIT,
  BlacklistListQueryDto,
} from 'src/modules/blacklist/dto/blacklist-list-query.dto';
import {
  BlacklistEntryResponseDto,
  BlacklistListResponseDto,
} from 'src/modules/blacklist/dto/blacklist-response.dto';
import { emailHash, normalizeEmail } from 'src/modules/blacklist/suppression';

// Other modules may not import the entity; they get the reason list from here.
export { BLACKLIST_REASONS, type BlacklistReason };

// The matching key and its hash are defined once, in suppression.ts.
export { emailHash, normalizeEmail };

export interface Suppression {
  /** Normalized address. */
  email: string;
  reason: BlacklistReason;
  /** `all` or the one stream it suppresses (README "Streams"). */
  scope: SuppressionScope;
  source: string | null;
  /** null = permanent. */
  expiresAt: Date | null;
}

export interface SuppressionInput {
  email: string;
  reason: BlacklistReason;
  /** Default `all`. */
  scope?: SuppressionScope;
  source?: string;
  details?: string;
  /** Seconds from now; null or omitted = permanent. */
  expiresInS?: number | null;
}

/** Largest `findSuppressed` input answered with one query (a full batch, README "Sending"). */
export const FIND_SUPPRESSED_CHUNK = 10_000;
/** Sanity bound for callers of the service (the API allows at most ten years). */
const MAX_EXPIRES_IN_S = 100 * 365 * 24 * 3600;

/**
 * The suppression list (README "Management"). Addresses match case-insensitively on the
 * trimmed address; an entry whose expires_at has passed counts as absent everywhere.
 *
 * Re-adding an address (add/addMany) never weakens a live entry. The strongest reason stands
 * (hard_bounce, spam_trap, complaint > fbl > unsubscribe > manual; between equals the newest
 * wins, with its source and details), so an unsubscribe or an operator's `manual` add cannot
 * replace a complaint. Its expiry is replaced only by a `manual` call on a `manual` entry or
 * when the old entry had lapsed; otherwise a permanent entry stays permanent and of two
 * expiries the later one holds. The rule lives in the upsert statement, so concurrent writers
 * (API, CSV import, webhooks, unsubscribe links) agree.
 */
@Injectable()
export class BlacklistService {
  constructor(private readonly repo: BlacklistRepository) {}

  /**
   * The live suppression of this address for mail of `stream` (an entry of scope `all` or
   * that stream), or null when it is not blocked (or has expired). Without a stream: any
   * live entry, whatever its scope. Of several entries, `all` and then the strongest reason.
   */
  check(email: string, stream?: Stream): Promise<Suppression | null> {
    return this.checks.submit({ email, stream });
  }

  /** Checks of concurrent requests share one query (see MicroBatcher). */
  private readonly checks = new MicroBatcher(
    async (items: Array<{ email: string; stream?: Stream }>) => {
      const found = await this.findEntries(items.map((i) => i.email));
      return items.map((i) => pick(found.get(normalizeEmail(i.email)), i.stream));
    },
    { maxBatchSize: 500, maxInFlight: 4 },
  );

  /**
   * Live suppressions among `emails` for mail of `stream` (without one: any scope), keyed by
   * normalizeEmail(address); unknown addresses are absent. One query per 10,000 distinct
   * addresses.
   */
  async findSuppressed(emails: string[], stream?: Stream): Promise<Map<string, Suppression>> {
    const found = new Map<string, Suppression>();
    for (const [email, entries] of await this.findEntries(emails)) {
      const hit = pick(entries, stream);
      if (hit) found.set(email, hit);
    }
    return found;
  }

  /** Every live entry of each address, by normalized address. */
  private async findEntries(emails: string[]): Promise<Map<string, Suppression[]>> {
    const byHash = new Map<string, string>();
    for (const email of emails) {
      const normalized = normalizeEmail(email);
      if (normalized) byHash.set(emailHash(normalized), normalized);
    }
    const hashes = [...byHash.keys()];
    const found = new Map<string, Suppression[]>();
    for (let i = 0; i < hashes.length; i += FIND_SUPPRESSED_CHUNK) {
      const rows = await this.repo.findActiveByHashes(hashes.slice(i, i + FIND_SUPPRESSED_CHUNK));
      for (const row of rows) {
        const email = byHash.get(row.email_hash) ?? row.email;
        found.set(email, [...(found.get(email) ?? []), toSuppression(row)]);
      }
    }
    return found;
  }

  /** Adds or replaces one entry (see the class comment for what a re-add keeps). */
  async add(input: SuppressionInput): Promise<Suppression> {
    return toSuppression(await this.upsertOne(input));
  }

  /**
   * Set-based upsert of many entries (imports, batches). A repeated address counts once: its
   * strongest reason wins, and between equals its last occurrence (as in the upsert). Answers
   * the number of addresses inserted or updated.
   */
  async addMany(inputs: SuppressionInput[]): Promise<number> {
    const rows = new Map<string, BlacklistUpsertRow>();
    for (const input of inputs) {
      const row = toUpsertRow(input);
      const key = `${row.emailHash}:${row.scope}`;
      const seen = rows.get(key);
      if (seen && REASON_STRENGTH[seen.reason] > REASON_STRENGTH[row.reason]) continue;
      rows.delete(key); // keep insertion order = last occurrence
      rows.set(key, row);
    }
    if (rows.size === 0) return 0;
    return this.repo.upsertCount([...rows.values()]);
  }

  /** Deletes the address's entries (of one scope, or all); false when none was in force. */
  remove(email: string, scope?: SuppressionScope): Promise<boolean> {
    return this.repo.deleteByHash(emailHash(email), scope);
  }

  /**
   * POST /api/v1/blacklist: like add, answering the entry as it now stands and whether it was
   * created (a new address, or a lapsed entry added again) rather than already listed.
   */
  async addEntry(
    input: SuppressionInput,
  ): Promise<{ entry: BlacklistEntryResponseDto; created: boolean }> {
    const row = await this.upsertOne(input);
    return { entry: toEntryDto(row), created: row.created };
  }

  /** GET /api/v1/blacklist: live entries, newest first, keyset-paginated. */
  async list(query: BlacklistListQueryDto): Promise<BlacklistListResponseDto> {
    const limit = query.limit ?? BLACKLIST_LIST_DEFAULT_LIMIT;
    const rows = await this.repo.listActive({
      reason: query.reason,
      scope: query.scope,
      after: query.cursor === undefined ? undefined : BLACKLIST_CURSOR.decode(query.cursor),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toEntryDto),
      next_cursor:
        rows.length > limit
          ? BLACKLIST_CURSOR.encode({ createdAt: last.cursor_at, id: last.id })
          : null,
    };
  }

  private async upsertOne(input: SuppressionInput): Promise<BlacklistRow & { created: boolean }> {
    const [row] = await this.repo.upsertReturning([toUpsertRow(input)]);
    return row;
  }
}

function toUpsertRow(input: SuppressionInput): BlacklistUpsertRow {
  const email = normalizeEmail(input.email ?? '');
  if (!email || email.length > BLACKLIST_EMAIL_MAX_LENGTH) {
    throw new ValidationFailedError(`email must be 1 to ${BLACKLIST_EMAIL_MAX_LENGTH} characters`, [
      { field: 'email', message: 'email is empty or too long' },
    ]);
  }
  if (!(BLACKLIST_REASONS as readonly string[]).includes(input.reason)) {
    throw new ValidationFailedError(`Unknown suppression reason "${input.reason}"`, [
      { field: 'reason', message: `reason must be one of: ${BLACKLIST_REASONS.join(', ')}` },
    ]);
  }
  const scope = input.scope ?? 'all';
  if (!(SUPPRESSION_SCOPES as readonly string[]).includes(scope)) {
    throw new ValidationFailedError(`Unknown suppression scope "${scope}"`, [
      { field: 'scope', message: `scope must be one of: ${SUPPRESSION_SCOPES.join(', ')}` },
    ]);
  }
  // A label only (the API validates its length): cut it rather than lose a suppression.
  const source = input.source?.trim().slice(0, BLACKLIST_SOURCE_MAX_LENGTH) || null;
  const expiresInS = input.expiresInS ?? null;
  if (
    expiresInS !== null &&
    !(Number.isInteger(expiresInS) && expiresInS > 0 && expiresInS <= MAX_EXPIRES_IN_S)
  ) {
    throw new ValidationFailedError('expires_in must be a positive whole number of seconds', [
      { field: 'expires_in', message: 'expires_in is out of range' },
    ]);
  }
  return {
    email,
    emailHash: emailHash(email),
    reason: input.reason,
    scope,
    source,
    details: input.details || null,
    expiresInS,
  };
}

function toSuppression(row: BlacklistRow): Suppression {
  return {
    email: row.email,
    reason: row.reason,
    scope: row.scope,
    source: row.source,
    expiresAt: row.expires_at,
  };
}

/**
 * The entry that blocks mail of `stream` (any entry without one): scope `all` first, then the
 * strongest reason.
 */
function pick(entries: Suppression[] | undefined, stream?: Stream): Suppression | null {
  let best: Suppression | null = null;
  for (const e of entries ?? []) {
    if (stream && e.scope !== 'all' && e.scope !== stream) continue;
    if (
      !best ||
      (e.scope === 'all') > (best.scope === 'all') ||
      ((e.scope === 'all') === (best.scope === 'all') &&
        REASON_STRENGTH[e.reason] > REASON_STRENGTH[best.reason])
    )
      best = e;
  }
  return best;
}

function toEntryDto(row: BlacklistRow): BlacklistEntryResponseDto {
  return {
    email: row.email,
    reason: row.reason,
    scope: row.scope,
    source: row.source,
    details: row.details,
    expires_at: row.expires_at ? row.expires_at.toISOString() : null,
    created_at: row.created_at.toISOString(),
  };
}

const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * `GET /api/v1/blacklist`: the last row's `[created_at, id]` (created_at with microseconds,
 * id an integer), as JSON.
 */
const BLACKLIST_CURSOR = keysetCursor<BlacklistKeyset>({
  write: (k) => JSON.stringify([k.createdAt, k.id]),
  read: (text) => {
    const parsed: unknown = JSON.parse(text);
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      CURSOR_AT.test(parsed[0]) &&
      !Number.isNaN(Date.parse(parsed[0])) &&
      typeof parsed[1] === 'number' &&
      parsePositiveInt4(String(parsed[1])) !== null
    ) {
      return { createdAt: parsed[0], id: parsed[1] };
    }
    return null;
  },
});
