import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { IdempotencyConflictError, ValidationFailedError } from 'src/common/errors/app-error';

const TTL_HOURS = 24;
/**
 * An in-flight claim older than this was abandoned by a crashed process. Taking it over is
 * safe: the message and the stored response are committed in one transaction, so a claim
 * without a response means no message was accepted for it.
 */
const ABANDONED_AFTER_S = 60;

export type IdempotencyClaim =
  | { kind: 'new'; apiKeyId: number; key: string }
  | { kind: 'replay'; statusCode: number; body: unknown };

/** Canonical JSON (sorted keys, undefined dropped) so the same body always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `Idempotency-Key` (README "Sending"): per API key, kept 24 h. */
@Injectable()
export class IdempotencyService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  static validateKey(key: string | undefined): string | undefined {
    if (key === undefined) return undefined;
    if (key.length === 0 || key.length > 256 || /[\r\n]/.test(key)) {
      throw new ValidationFailedError('Idempotency-Key must be 1 to 256 characters', [
        { field: 'Idempotency-Key', message: 'must be 1 to 256 characters' },
      ]);
    }
    return key;
  }

  static hashRequest(route: string, body: unknown): string {
    return createHash('sha256').update(route).update('\n').update(canonical(body)).digest('hex');
  }

  /**
   * Claims the key for this request, or tells the caller to replay the stored response.
   * Another body under the same key, or the first request still running → 409.
   */
  async claim(apiKeyId: number, key: string, requestHash: string): Promise<IdempotencyClaim> {
    const claimed: unknown[] = await this.ds.query(
      `INSERT INTO idempotency_keys (api_key_id, key, request_hash, status_code, response, created_at, expires_at)
       VALUES ($1, $2, $3, NULL, NULL, now(), now() + make_interval(hours => $4))
       ON CONFLICT (api_key_id, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
             created_at = now(), expires_at = EXCLUDED.expires_at
       WHERE idempotency_keys.expires_at <= now()
          OR (idempotency_keys.status_code IS NULL
              AND idempotency_keys.request_hash = EXCLUDED.request_hash
              AND idempotency_keys.created_at < now() - make_interval(secs => $5))
       RETURNING key`,
      [apiKeyId, key, requestHash, TTL_HOURS, ABANDONED_AFTER_S],
    );
    if (claimed.length > 0) return { kind: 'new', apiKeyId, key };
    const rows: Array<{ request_hash: string; status_code: number | null; response: unknown }> =
      await this.ds.query(
        `SELECT request_hash, status_code, response FROM idempotency_keys WHERE api_key_id = $1 AND key = $2`,
        [apiKeyId, key],
      );
    const row = rows[0];
    if (!row) return this.claim(apiKeyId, key, requestHash); // expired and pruned in between
    if (row.request_hash !== requestHash) {
      throw new IdempotencyConflictError(
        'This Idempotency-Key was already used with a different request',
      );
    }
    if (row.status_code === null) {
      throw new IdempotencyConflictError(
        'A request with this Idempotency-Key is still being processed',
      );
    }
    return { kind: 'replay', statusCode: row.status_code, body: row.response };
  }

  /** Stores the response, in the same transaction that accepted the message(s). */
  async complete(
    em: EntityManager,
    claim: { apiKeyId: number; key: string },
    statusCode: number,
    body: unknown,
  ): Promise<void> {
    await em.query(
      `UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE api_key_id = $1 AND key = $2`,
      [claim.apiKeyId, claim.key, statusCode, JSON.stringify(body)],
    );
  }

  /** The request failed before anything was accepted: free the key for a corrected retry. */
  async release(claim: { apiKeyId: number; key: string }): Promise<void> {
    await this.ds.query(
      `DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND status_code IS NULL`,
      [claim.apiKeyId, claim.key],
    );
  }
}
