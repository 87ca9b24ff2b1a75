import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from 'src/config/app-config';
import type { EmailStatus } from 'src/modules/emails/email-log.entity';
import type { TransitionCause } from 'src/modules/emails/lifecycle/transitions';

/**
 * A committed status change of one message (docs/ARCHITECTURE.md "Transition events"): the
 * one hook for statistics, live dashboard numbers and outbound event webhooks.
 */
export interface MessageTransitioned {
  /** The `email_events` row (its outbox entry). */
  eventId: string;
  /** `email_logs.id`. */
  emailLogId: string;
  /** The API's message_id. */
  messageId: string;
  /** null for accept (the message did not exist). */
  from: EmailStatus | null;
  to: EmailStatus;
  cause: TransitionCause;
  details: Record<string, unknown>;
  at: Date;
}

/** Receives transitions in commit order, a page at a time; throwing makes the page come again. */
export type TransitionConsumer = (events: MessageTransitioned[]) => Promise<void> | void;

/** The progress row in outbox_cursors of the in-process consumers. */
const CURSOR = 'in-process';
/** One dispatcher at a time across processes (pg_try_advisory_xact_lock key). */
const LOCK_KEY = 7_301_342_017;
const PAGE = 500;
const POLL_MS = 500;

/**
 * Publishes every committed transition to the registered in-process consumers, at least once.
 *
 * The outbox is `email_events` itself: a transition's row (cause not null) is written in the
 * same statement as the status change, so both commit or neither does. The publisher reads
 * those rows in (tx, id) order only up to the oldest transaction still running
 * (`pg_snapshot_xmin`), so a transaction that commits late is read later, never skipped; it
 * hands each page to every consumer and only then moves its cursor, in the same transaction.
 * A crash or a consumer error before that commit leaves the cursor where it was, and the page
 * is delivered again: consumers must tolerate repeats (at least once). Pages come in
 * transaction-id order, which is not strictly commit order: compare `from`/`to` rather than
 * rely on the order of two transitions of one message.
 * One process dispatches at a time (an advisory lock); processes with the `worker` role poll
 * every 500 ms.
 */
@Injectable()
export class TransitionPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TransitionPublisher.name);
  private readonly consumers = new Map<string, TransitionConsumer>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Registers a consumer under a unique name (one per kind of consumer). */
  subscribe(name: string, consumer: TransitionConsumer): void {
    if (this.consumers.has(name)) throw new Error(`Transition consumer "${name}" exists`);
    this.consumers.set(name, consumer);
  }

  onApplicationBootstrap(): void {
    if (this.config.hasRole('worker')) this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * Delivers every transition committed so far; answers how many. Tests and the CLI call it
   * directly; workers run it on a timer.
   */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.dispatchPage();
      total += n;
      if (n < PAGE) return total;
    }
  }

  /** One page: read, deliver to every consumer, move the cursor; 0 when another process holds it. */
  private dispatchPage(): Promise<number> {
    return this.ds.transaction(async (em) => {
      const [{ locked }]: Array<{ locked: boolean }> = await em.query(
        `SELECT pg_try_advisory_xact_lock($1) AS locked`,
        [LOCK_KEY],
      );
      if (!locked) return 0;
      // Read before this transaction writes anything: it has no xid yet, so the snapshot's
      // xmin is the oldest *other* transaction still running.
      const rows: Array<{
        id: string;
        tx: string;
        email_log_id: string;
        external_message_id: string;
        from_status: EmailStatus | null;
        event_type: EmailStatus;
        cause: TransitionCause;
        details: Record<string, unknown>;
        occurred_at: Date;
      }> = await em.query(
        `WITH cursor AS (
           SELECT COALESCE((SELECT last_tx FROM outbox_cursors WHERE name = $1), 0) AS last_tx,
                  COALESCE((SELECT last_id FROM outbox_cursors WHERE name = $1), 0) AS last_id)
         SELECT ev.id, ev.tx, ev.email_log_id, l.external_message_id, ev.from_status, ev.event_type,
                ev.cause, ev.details, ev.occurred_at
           FROM cursor c, email_events ev JOIN email_logs l ON l.id = ev.email_log_id
          WHERE ev.cause IS NOT NULL AND (ev.tx, ev.id) > (c.last_tx, c.last_id)
            AND ev.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
          ORDER BY ev.tx, ev.id LIMIT $2`,
        [CURSOR, PAGE],
      );
      if (rows.length === 0) return 0;
      const events: MessageTransitioned[] = rows.map((r) => ({
        eventId: String(r.id),
        emailLogId: String(r.email_log_id),
        messageId: r.external_message_id,
        from: r.from_status,
        to: r.event_type,
        cause: r.cause,
        details: r.details,
        at: r.occurred_at,
      }));
      for (const consumer of this.consumers.values()) await consumer(events);
      const last = rows[rows.length - 1];
      await em.query(
        `INSERT INTO outbox_cursors (name, last_tx, last_id) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET last_tx = EXCLUDED.last_tx, last_id = EXCLUDED.last_id,
                                          updated_at = now()`,
        [CURSOR, last.tx, last.id],
      );
      return rows.length;
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.drain()
        .catch((err: unknown) =>
          this.logger.warn(`Publishing transitions failed, will retry: ${String(err)}`),
        )
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, POLL_MS);
    this.timer.unref();
  }
}
