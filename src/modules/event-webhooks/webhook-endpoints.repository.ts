import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Stream } from 'src/common/streams';
import type { EndpointDisabledReason } from 'src/modules/event-webhooks/webhook-endpoint.entity';

/** An endpoint row as read (snake_case columns, as PostgreSQL returns them). */
export interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  events: string[] | null;
  stream: Stream | null;
  campaign_ids: string[] | null;
  tags: string[] | null;
  enabled: boolean;
  disabled_reason: EndpointDisabledReason | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  failing_since: Date | null;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  /** created_at in UTC with microseconds: a lossless keyset cursor. */
  cursor_at: string;
}

export interface EndpointWrite {
  url?: string;
  description?: string | null;
  events?: string[] | null;
  stream?: Stream | null;
  campaign_ids?: string[] | null;
  tags?: string[] | null;
  enabled?: boolean;
}

const COLUMNS = `*, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;
const JSONB = new Set(['events', 'campaign_ids', 'tags']);

/**
 * webhook_endpoints (README "Event webhooks"). Statements that return rows from an UPDATE or
 * DELETE wrap it in a CTE: TypeORM answers a bare one with `[rows, count]`.
 */
@Injectable()
export class WebhookEndpointsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async create(w: EndpointWrite & { url: string; secret: string }): Promise<EndpointRow> {
    const [row]: EndpointRow[] = await this.ds.query(
      `INSERT INTO webhook_endpoints (url, description, events, stream, campaign_ids, tags, enabled,
                                      disabled_reason, secret)
       VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6::jsonb, $7, CASE WHEN $7 THEN NULL ELSE 'manual' END, $8)
       RETURNING ${COLUMNS}`,
      [
        w.url,
        w.description ?? null,
        json(w.events),
        w.stream ?? null,
        json(w.campaign_ids),
        json(w.tags),
        w.enabled ?? true,
        w.secret,
      ],
    );
    return row;
  }

  async find(id: string): Promise<EndpointRow | null> {
    const rows: EndpointRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Newest first, keyset-paginated on (created_at, id). */
  list(limit: number, after?: { at: string; id: string }): Promise<EndpointRow[]> {
    return this.ds.query(
      `SELECT ${COLUMNS} FROM webhook_endpoints
        WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1::timestamptz, $2::uuid)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [after?.at ?? null, after?.id ?? null, limit],
    );
  }

  /**
   * Changes the given fields. Enabling clears the disabled reason and the failure streak;
   * disabling through the API records `manual`.
   */
  async update(id: string, w: EndpointWrite): Promise<EndpointRow | null> {
    const entries = Object.entries(w).filter(([, v]) => v !== undefined);
    const sets = entries.map(([col], i) =>
      JSONB.has(col) ? `${col} = $${i + 2}::jsonb` : `${col} = $${i + 2}`,
    );
    if (w.enabled === true) sets.push(`disabled_reason = NULL, failing_since = NULL`);
    if (w.enabled === false) sets.push(`disabled_reason = 'manual'`);
    const rows: EndpointRow[] = await this.ds.query(
      `WITH u AS (UPDATE webhook_endpoints SET ${[...sets, 'updated_at = now()'].join(', ')}
                   WHERE id = $1 RETURNING *)
       SELECT ${COLUMNS} FROM u`,
      [id, ...entries.map(([col, v]) => (JSONB.has(col) ? json(v as string[] | null) : v))],
    );
    return rows[0] ?? null;
  }

  async remove(id: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `WITH d AS (DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id) SELECT id FROM d`,
      [id],
    );
    return rows.length > 0;
  }

  /** A new secret; the current one keeps signing alongside it until `previousExpiresAt`. */
  async rotateSecret(
    id: string,
    secret: string,
    previousExpiresAt: Date,
  ): Promise<EndpointRow | null> {
    const rows: EndpointRow[] = await this.ds.query(
      `WITH u AS (UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $3,
                          secret = $2, updated_at = now()
                    WHERE id = $1 RETURNING *)
       SELECT ${COLUMNS} FROM u`,
      [id, secret, previousExpiresAt],
    );
    return rows[0] ?? null;
  }

  /** An answer in 2xx: the failure streak ends. */
  async recordSuccess(id: string, at: Date): Promise<void> {
    await this.ds.query(
      `UPDATE webhook_endpoints SET last_success_at = $2, failing_since = NULL WHERE id = $1`,
      [id, at],
    );
  }

  /**
   * Failed attempts (after any success of the same chunk): the streak starts now unless it
   * already runs. Answers when it started.
   */
  async recordFailure(id: string, at: Date, error: string): Promise<Date | null> {
    const rows: Array<{ failing_since: Date }> = await this.ds.query(
      `WITH u AS (UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2),
                          last_failure_at = $2, last_error = $3
                    WHERE id = $1 RETURNING failing_since)
       SELECT failing_since FROM u`,
      [id, at, error.slice(0, 500)],
    );
    return rows[0]?.failing_since ?? null;
  }

  /** Disables an enabled endpoint; false when it already was (so one alert per disabling). */
  async disable(id: string, reason: EndpointDisabledReason): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `WITH u AS (UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
                    WHERE id = $1 AND enabled RETURNING id)
       SELECT id FROM u`,
      [id, reason],
    );
    return rows.length > 0;
  }
}

function json(v: string[] | null | undefined): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}
