import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { BlacklistEntry, BlacklistReason } from 'src/modules/blacklist/blacklist-entry.entity';
import type { SuppressionScope } from 'src/common/streams';
import { activeEntrySql } from 'src/modules/blacklist/suppression';

/** One row as the queries here return it. */
export interface BlacklistRow {
  id: number;
  email: string;
  email_hash: string;
  reason: BlacklistReason;
  scope: SuppressionScope;
  source: string | null;
  details: string | null;
  expires_at: Date | null;
  created_at: Date;
  /** created_at in UTC with microseconds: a lossless keyset cursor (a JS Date keeps only ms). */
  cursor_at: string;
}

export interface BlacklistUpsertRow {
  email: string;
  emailHash: string;
  reason: BlacklistReason;
  scope: SuppressionScope;
  source: string | null;
  details: string | null;
  /** null = permanent. */
  expiresInS: number | null;
}

export interface BlacklistKeyset {
  createdAt: string;
  id: number;
}

const COLUMNS = `id, email, email_hash, reason, scope, source, details, expires_at, created_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;

/** Expired entries count as absent everywhere (a daily prune deletes them later). */
const ACTIVE = activeEntrySql();

/**
 * How strong a suppression reason is (README "Management"): a mailbox that hard-bounced, is a
 * spam trap or complained must never be downgraded to a weaker reason by a later signal.
 */
export const REASON_STRENGTH: Readonly<Record<BlacklistReason, number>> = {
  hard_bounce: 3,
  spam_trap: 3,
  complaint: 3,
  fbl: 2,
  unsubscribe: 1,
  manual: 0,
};

const strength = (column: string): string =>
  `CASE ${column} ${Object.entries(REASON_STRENGTH)
    .map(([reason, n]) => `WHEN '${reason}' THEN ${n}`)
    .join(' ')} ELSE 0 END`;

/** The live entry holds a stronger reason than the incoming one: it keeps its own. */
const KEEPS_OWN = `${activeEntrySql('b')}
      AND ${strength('b.reason')} > ${strength('EXCLUDED.reason')}`;

/**
 * Upsert on (email_hash, scope): each scope of an address is its own entry. Reason, source and details: the strongest reason wins
 * (REASON_STRENGTH); between equals the newest call wins; a lapsed entry is replaced outright.
 * Deciding it in the statement (ON CONFLICT sees the row as last committed, under its lock)
 * makes concurrent writers — API, CSV import, webhooks, unsubscribe links — agree.
 * Expiry: an entry never gets weaker. A `manual` call on a `manual` entry (an operator's
 * decision) or a re-add of a lapsed entry sets it as given; otherwise permanent stays
 * permanent and the later expiry wins. A lapsed entry that is added again counts as new
 * (created_at restarts).
 */
const UPSERT = `
  INSERT INTO blacklists AS b (email, email_hash, reason, source, details, expires_at, scope)
  SELECT u.email, u.email_hash, u.reason, u.source, u.details,
         CASE WHEN u.expires_in_s IS NULL THEN NULL
              ELSE now() + u.expires_in_s * interval '1 second' END,
         u.scope
  FROM unnest($1::varchar[], $2::bpchar[], $3::varchar[], $4::varchar[], $5::text[], $6::int8[],
              $7::varchar[])
       AS u(email, email_hash, reason, source, details, expires_in_s, scope)
  ON CONFLICT (email_hash, scope) DO UPDATE SET
    email = EXCLUDED.email,
    reason = CASE WHEN ${KEEPS_OWN} THEN b.reason ELSE EXCLUDED.reason END,
    source = CASE WHEN ${KEEPS_OWN} THEN b.source ELSE EXCLUDED.source END,
    details = CASE WHEN ${KEEPS_OWN} THEN b.details ELSE EXCLUDED.details END,
    expires_at = CASE
      WHEN b.expires_at <= now() THEN EXCLUDED.expires_at
      WHEN EXCLUDED.reason = 'manual' AND b.reason = 'manual' THEN EXCLUDED.expires_at
      WHEN b.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
      ELSE GREATEST(b.expires_at, EXCLUDED.expires_at)
    END,
    created_at = CASE WHEN b.expires_at <= now() THEN now() ELSE b.created_at END,
    updated_at = now()`;

/** Queries over blacklists; SQL stays in here. */
@Injectable()
export class BlacklistRepository {
  constructor(
    @InjectRepository(BlacklistEntry) private readonly entries: Repository<BlacklistEntry>,
  ) {}

  /** Every live entry of these addresses, whatever its scope. One indexed query (`= ANY`). */
  findActiveByHashes(emailHashes: string[]): Promise<BlacklistRow[]> {
    return this.entries.query(
      `SELECT ${COLUMNS} FROM blacklists WHERE email_hash = ANY($1::bpchar[]) AND ${ACTIVE}`,
      [emailHashes],
    );
  }

  /**
   * Upserts rows whose hashes are distinct (ON CONFLICT may touch a row only once). `created`:
   * the row was inserted (xmax = 0) or a lapsed entry was replaced (created_at restarted).
   */
  upsertReturning(rows: BlacklistUpsertRow[]): Promise<Array<BlacklistRow & { created: boolean }>> {
    return this.entries.query(
      `${UPSERT} RETURNING ${COLUMNS}, (xmax = 0 OR created_at = now()) AS created`,
      upsertParams(rows),
    );
  }

  /** Like upsertReturning; answers only how many rows were inserted or updated. */
  async upsertCount(rows: BlacklistUpsertRow[]): Promise<number> {
    const result: Array<{ n: number }> = await this.entries.query(
      `WITH up AS (${UPSERT} RETURNING 1) SELECT count(*)::int AS n FROM up`,
      upsertParams(rows),
    );
    return result[0].n;
  }

  /**
   * Deletes the address's entries (of one scope, or all of them); answers whether one was
   * still in force (a lapsed one counts as absent).
   */
  async deleteByHash(emailHash: string, scope?: SuppressionScope): Promise<boolean> {
    const [rows]: [Array<{ active: boolean }>, number] = await this.entries.query(
      `DELETE FROM blacklists WHERE email_hash = $1 AND ($2::varchar IS NULL OR scope = $2)
       RETURNING ${ACTIVE} AS active`,
      [emailHash, scope ?? null],
    );
    return rows.some((r) => r.active);
  }

  /** Live entries, newest first (created_at desc, id desc), strictly after `after`. */
  listActive(opts: {
    reason?: BlacklistReason;
    scope?: SuppressionScope;
    after?: BlacklistKeyset;
    limit: number;
  }): Promise<BlacklistRow[]> {
    const params: unknown[] = [];
    const where = [ACTIVE];
    if (opts.reason) {
      params.push(opts.reason);
      where.push(`reason = $${params.length}`);
    }
    if (opts.scope) {
      params.push(opts.scope);
      where.push(`scope = $${params.length}`);
    }
    if (opts.after) {
      params.push(opts.after.createdAt, opts.after.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::int)`);
    }
    params.push(opts.limit);
    return this.entries.query(
      `SELECT ${COLUMNS} FROM blacklists WHERE ${where.join(' AND ')}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }
}

function upsertParams(rows: BlacklistUpsertRow[]): unknown[] {
  return [
    rows.map((r) => r.email),
    rows.map((r) => r.emailHash),
    rows.map((r) => r.reason),
    rows.map((r) => r.source),
    rows.map((r) => r.details),
    rows.map((r) => r.expiresInS),
    rows.map((r) => r.scope),
  ];
}
