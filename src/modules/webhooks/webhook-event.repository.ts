import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { MicroBatcher } from 'src/common/batching/micro-batcher';

export interface StoredWebhookEvent {
  id: string;
  uuid: string;
  event: string;
  payload: Record<string, unknown>;
  processedAt: Date | null;
}

export interface StoreResult {
  id: string;
  inserted: boolean;
  processed: boolean;
}

@Injectable()
export class WebhookEventRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Stores an envelope once per uuid; a retried delivery finds the first row. Envelopes of
   * concurrent requests are stored by one statement and one commit (group commit).
   */
  store(uuid: string, event: string, payload: unknown): Promise<StoreResult> {
    return this.stores.submit({ uuid, event, payload: JSON.stringify(payload ?? {}) });
  }

  private readonly stores = new MicroBatcher(
    (items: Array<{ uuid: string; event: string; payload: string }>) => this.storeMany(items),
    { maxBatchSize: 500, maxInFlight: 4 },
  );

  private async storeMany(
    items: Array<{ uuid: string; event: string; payload: string }>,
  ): Promise<StoreResult[]> {
    // The same uuid twice in one batch (Postal retrying while the first is in flight): the
    // first is stored, the second is its duplicate.
    const firstIndex = new Map<string, number>();
    items.forEach((it, i) => {
      if (!firstIndex.has(it.uuid)) firstIndex.set(it.uuid, i);
    });
    const unique = [...firstIndex.values()].map((i) => items[i]);
    const rows: Array<{
      uuid: string;
      new_id: string | null;
      old_id: string | null;
      processed_at: Date | null;
    }> = await this.ds.query(
      // The outer SELECT does not see rows the CTE inserts (one snapshot): a stored row comes
      // back through `ins`, an earlier one through the join on webhook_events.
      `WITH input AS (
         SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::jsonb[]) WITH ORDINALITY
           AS u(uuid, event, payload, ord)),
       ins AS (
         INSERT INTO webhook_events (uuid, event, payload)
         SELECT uuid, event, payload FROM input ORDER BY ord
         ON CONFLICT (uuid) DO NOTHING
         RETURNING id, uuid)
       SELECT i.uuid, ins.id AS new_id, w.id AS old_id, w.processed_at
         FROM input i
         LEFT JOIN ins ON ins.uuid = i.uuid
         LEFT JOIN webhook_events w ON w.uuid = i.uuid`,
      [unique.map((u) => u.uuid), unique.map((u) => u.event), unique.map((u) => u.payload)],
    );
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    // Stored meanwhile by a concurrent statement that committed after this one's snapshot was
    // taken: ON CONFLICT saw it, the snapshot did not. A new statement sees it.
    const unseen = unique.filter((u) => {
      const r = byUuid.get(u.uuid);
      return !r || (r.new_id == null && r.old_id == null);
    });
    if (unseen.length > 0) {
      const late: Array<{ uuid: string; id: string; processed_at: Date | null }> =
        await this.ds.query(
          `SELECT uuid, id, processed_at FROM webhook_events WHERE uuid = ANY($1::varchar[])`,
          [unseen.map((u) => u.uuid)],
        );
      for (const l of late) {
        byUuid.set(l.uuid, {
          uuid: l.uuid,
          new_id: null,
          old_id: l.id,
          processed_at: l.processed_at,
        });
      }
    }
    return items.map((it, i) => {
      const r = byUuid.get(it.uuid);
      if (!r || (r.new_id == null && r.old_id == null)) {
        throw new Error(`webhook event ${it.uuid} neither stored nor found`);
      }
      if (r.new_id != null) {
        return { id: String(r.new_id), inserted: firstIndex.get(it.uuid) === i, processed: false };
      }
      return { id: String(r.old_id), inserted: false, processed: r.processed_at !== null };
    });
  }

  /** One stored event; lookups of concurrent jobs share one query. */
  find(id: string): Promise<StoredWebhookEvent | null> {
    return this.finds.submit(id);
  }

  private readonly finds = new MicroBatcher(
    async (ids: string[]): Promise<Array<StoredWebhookEvent | null>> => {
      const rows: Array<{
        id: string;
        uuid: string;
        event: string;
        payload: Record<string, unknown>;
        processed_at: Date | null;
      }> = await this.ds.query(
        `SELECT id, uuid, event, payload, processed_at FROM webhook_events WHERE id = ANY($1::bigint[])`,
        [[...new Set(ids)]],
      );
      const byId = new Map(rows.map((r) => [String(r.id), r]));
      return ids.map((id) => {
        const r = byId.get(id);
        return r
          ? {
              id: String(r.id),
              uuid: r.uuid,
              event: r.event,
              payload: r.payload,
              processedAt: r.processed_at,
            }
          : null;
      });
    },
    { maxBatchSize: 200, maxInFlight: 4 },
  );

  /** Marks an event processed; concurrent jobs' updates share one statement and commit. */
  markProcessed(id: string, error: string | null): Promise<void> {
    return this.processedUpdates.submit({ id, error });
  }

  private readonly processedUpdates = new MicroBatcher(
    async (items: Array<{ id: string; error: string | null }>) => {
      await this.ds.query(
        `UPDATE webhook_events w SET processed_at = now(), error = u.error
           FROM unnest($1::bigint[], $2::text[]) AS u(id, error)
          WHERE w.id = u.id`,
        [items.map((i) => i.id), items.map((i) => i.error)],
      );
      return items.map(() => undefined);
    },
    { maxBatchSize: 200, maxInFlight: 4 },
  );

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
