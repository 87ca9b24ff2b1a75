import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface StoredWebhookEvent {
  id: string;
  uuid: string;
  event: string;
  payload: Record<string, unknown>;
  processedAt: Date | null;
}

@Injectable()
export class WebhookEventRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** Stores an envelope once per uuid; a retried delivery finds the first row. */
  async store(
    uuid: string,
    event: string,
    payload: unknown,
  ): Promise<{ id: string; inserted: boolean; processed: boolean }> {
    const inserted: Array<{ id: string }> = await this.ds.query(
      `INSERT INTO webhook_events (uuid, event, payload) VALUES ($1, $2, $3)
       ON CONFLICT (uuid) DO NOTHING RETURNING id`,
      [uuid, event, JSON.stringify(payload ?? {})],
    );
    if (inserted[0]) return { id: String(inserted[0].id), inserted: true, processed: false };
    const rows: Array<{ id: string; processed_at: Date | null }> = await this.ds.query(
      `SELECT id, processed_at FROM webhook_events WHERE uuid = $1`,
      [uuid],
    );
    return { id: String(rows[0].id), inserted: false, processed: rows[0].processed_at !== null };
  }

  async find(id: string): Promise<StoredWebhookEvent | null> {
    const rows: Array<{
      id: string;
      uuid: string;
      event: string;
      payload: Record<string, unknown>;
      processed_at: Date | null;
    }> = await this.ds.query(
      `SELECT id, uuid, event, payload, processed_at FROM webhook_events WHERE id = $1`,
      [id],
    );
    const r = rows[0];
    return r
      ? {
          id: String(r.id),
          uuid: r.uuid,
          event: r.event,
          payload: r.payload,
          processedAt: r.processed_at,
        }
      : null;
  }

  async markProcessed(id: string, error: string | null): Promise<void> {
    await this.ds.query(
      `UPDATE webhook_events SET processed_at = now(), error = $2 WHERE id = $1`,
      [id, error],
    );
  }

  /** Stored but never processed (e.g. Redis was down when it arrived). */
  async findUnprocessed(olderThanS: number, limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.ds.query(
      `SELECT id FROM webhook_events WHERE processed_at IS NULL AND received_at < now() - make_interval(secs => $1)
        ORDER BY id LIMIT $2`,
      [olderThanS, limit],
    );
    return rows.map((r) => String(r.id));
  }
}
