import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AGGREGATION_SETTINGS } from 'src/modules/analytics/hourly-stats.repository';

/**
 * Rows deleted per statement when pruning: each DELETE is short, so pruning a long backlog
 * never holds locks (or bloats one transaction) for long.
 */
export const PRUNE_BATCH_SIZE = 10_000;

/** The daily job's SQL: campaign_stats refresh and retention pruning. */
@Injectable()
export class AnalyticsMaintenanceRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Recomputes the totals of every campaign with a message accepted since `activeSince`, in
   * one INSERT … SELECT … GROUP BY: each message counts once per outcome it reached (its
   * timestamps, bounce type and status), unsubscribes from its events. Returns how many
   * campaigns were refreshed.
   */
  async refreshCampaignStats(activeSince: Date): Promise<number> {
    return this.ds.transaction(async (em) => {
      for (const sql of AGGREGATION_SETTINGS) await em.query(sql);
      const rows: Array<{ n: number }> = await em.query(
        `WITH refreshed AS (
           INSERT INTO campaign_stats (campaign_id, total_sent, total_delivered, total_bounced,
                                       total_complained, total_opened, total_clicked,
                                       total_unsubscribed, updated_at)
           SELECT l.campaign_id,
                  count(*) FILTER (WHERE l.sent_at IS NOT NULL),
                  count(*) FILTER (WHERE l.delivered_at IS NOT NULL),
                  count(*) FILTER (WHERE l.bounce_type IS NOT NULL),
                  count(*) FILTER (WHERE l.status = 'complained'),
                  count(*) FILTER (WHERE l.opened_at IS NOT NULL),
                  count(*) FILTER (WHERE l.clicked_at IS NOT NULL),
                  count(u.email_log_id),
                  now()
             FROM email_logs l
             LEFT JOIN (SELECT DISTINCT email_log_id FROM email_events
                         WHERE event_type = 'unsubscribed') u ON u.email_log_id = l.id
            WHERE l.campaign_id IN (SELECT campaign_id FROM email_logs
                                     WHERE created_at >= $1 AND campaign_id IS NOT NULL)
            GROUP BY l.campaign_id
           ON CONFLICT (campaign_id) DO UPDATE SET
             total_sent = EXCLUDED.total_sent,
             total_delivered = EXCLUDED.total_delivered,
             total_bounced = EXCLUDED.total_bounced,
             total_complained = EXCLUDED.total_complained,
             total_opened = EXCLUDED.total_opened,
             total_clicked = EXCLUDED.total_clicked,
             total_unsubscribed = EXCLUDED.total_unsubscribed,
             updated_at = EXCLUDED.updated_at
           RETURNING 1)
         SELECT count(*)::int AS n FROM refreshed`,
        [activeSince],
      );
      return rows[0].n;
    });
  }

  /** Idempotency keys past their expiry (a late replay then finds nothing, as intended). */
  pruneExpiredIdempotencyKeys(): Promise<number> {
    // No single-column key: rows are picked by ctid; `expires_at` is re-checked in case a
    // key was claimed again in between (the claim rewrites the row).
    return this.deleteInBatches(
      `DELETE FROM idempotency_keys
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1))
          AND expires_at <= now()`,
      [],
    );
  }

  /**
   * Suppressions past their `expires_at` (they already count as absent everywhere): e.g. the
   * entries mirrored from Postal's own suppression list (README "How mail flows").
   */
  pruneExpiredSuppressions(): Promise<number> {
    return this.deleteInBatches(
      `DELETE FROM blacklists
        WHERE id = ANY(ARRAY(SELECT id FROM blacklists WHERE expires_at <= now() LIMIT $1))
          AND expires_at <= now()`,
      [],
    );
  }

  pruneWebhookEvents(before: Date): Promise<number> {
    return this.deleteInBatches(
      `DELETE FROM webhook_events
        WHERE id = ANY(ARRAY(SELECT id FROM webhook_events WHERE received_at < $2 LIMIT $1))`,
      [before],
    );
  }

  /**
   * Events past retention, except a transition the publisher has not delivered to every
   * consumer group yet: the `email_events` row is its outbox (docs/ARCHITECTURE.md "Transition
   * events"), so a publisher that fell behind loses nothing to the daily prune.
   */
  pruneEmailEvents(before: Date): Promise<number> {
    return this.deleteInBatches(
      `DELETE FROM email_events
        WHERE id = ANY(ARRAY(
          SELECT e.id FROM email_events e
           WHERE e.occurred_at < $2
             AND (e.cause IS NULL
                  OR (EXISTS (SELECT 1 FROM outbox_cursors)
                      AND (e.tx, e.id) <= ALL (SELECT c.last_tx, c.last_id FROM outbox_cursors c)))
           LIMIT $1))`,
      [before],
    );
  }

  pruneHourlyStats(before: Date): Promise<number> {
    return this.deleteInBatches(
      `DELETE FROM hourly_stats
        WHERE id = ANY(ARRAY(SELECT id FROM hourly_stats WHERE hour < $2 LIMIT $1))`,
      [before],
    );
  }

  /** Runs a `DELETE … LIMIT $1`-shaped statement until a batch comes back short. */
  private async deleteInBatches(sql: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      // TypeORM answers a bare DELETE with [rows, affected].
      const [, affected]: [unknown, number] = await this.ds.query(sql, [
        PRUNE_BATCH_SIZE,
        ...params,
      ]);
      total += affected;
      if (affected < PRUNE_BATCH_SIZE) return total;
    }
  }
}
