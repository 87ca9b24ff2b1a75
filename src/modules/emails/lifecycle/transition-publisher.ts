import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from 'src/config/app-config';
import type { EmailStatus } from 'src/modules/emails/email-log.entity';
import type { Stream } from 'src/common/streams';
import { type EventCause, isEventCause } from 'src/modules/emails/lifecycle/message-events';
import type { TransitionCause } from 'src/modules/emails/lifecycle/transitions';

/**
 * A committed status change of one message, or an event that changes no status (an open, a
 * click, a deferral, an unsubscribe: lifecycle/message-events.ts), as published
 * (docs/ARCHITECTURE.md "Transition events"): the one hook for statistics, live dashboard
 * numbers and outbound event webhooks.
 */
export interface MessageTransitioned {
  /** The `email_events` row (its outbox entry). */
  eventId: string;
  /** `email_logs.id`. */
  emailLogId: string;
  /** The API's message_id. */
  messageId: string;
  /** null for accept (the message did not exist). For an event: the status it stays in. */
  from: EmailStatus | null;
  /** The new status; for an event (statusChanged false), the status it stays in. */
  to: EmailStatus;
  /** The `email_events.event_type`: the new status, or the event (`opened`, …). */
  type: string;
  /** False for an event that changes no status. */
  statusChanged: boolean;
  /** A TransitionCause, an EventCause, or a cause this version does not know (ignore it). */
  cause: TransitionCause | EventCause | (string & {});
  details: Record<string, unknown>;
  at: Date;
  /** The message's fields that consumers filter on. */
  message: MessageFacts;
}

export interface MessageFacts {
  recipient: string;
  stream: Stream;
  campaignId: string | null;
  tag: string | null;
  batchId: string | null;
}

/**
 * A recipient refused at accept because it is suppressed (`accept_rejections`): there is no
 * message, so no transition; groups that subscribe to rejections get them after their
 * transitions, through a cursor of their own.
 */
export interface AcceptRejected {
  rejectionId: string;
  recipient: string;
  stream: Stream;
  campaignId: string | null;
  tag: string | null;
  batchId: string | null;
  reason: string;
  at: Date;
}

/** Receives transitions in commit order, a page at a time; throwing makes the page come again. */
export type TransitionConsumer = (events: MessageTransitioned[]) => Promise<void> | void;
export type RejectionConsumer = (rejections: AcceptRejected[]) => Promise<void> | void;

/** The group of the in-process consumers (metrics); its progress row in outbox_cursors. */
export const IN_PROCESS_GROUP = 'in-process';
/** The in-process group's lock (pg_try_advisory_xact_lock key); other groups hash their name. */
const LOCK_KEY = 7_301_342_017;
const PAGE = 500;
const POLL_MS = 500;

interface Group {
  name: string;
  consumers: Map<string, TransitionConsumer>;
  rejectionConsumers: Map<string, RejectionConsumer>;
}

/**
 * Publishes every committed transition to the registered consumers, at least once.
 *
 * The outbox is `email_events` itself: a transition's row (cause not null) is written in the
 * same statement as the status change, so both commit or neither does. The publisher reads
 * those rows in (tx, id) order only up to the oldest transaction still running
 * (`pg_snapshot_xmin`), so a transaction that commits late is read later, never skipped; it
 * hands each page to every consumer of a group and only then moves the group's cursor, in the
 * same transaction. A crash or a consumer error before that commit leaves the cursor where it
 * was, and the page is delivered again: consumers must tolerate repeats (at least once). Pages
 * come in transaction-id order, which is not strictly commit order: compare `from`/`to` rather
 * than rely on the order of two transitions of one message.
 *
 * Consumer groups (`subscribe(name, fn, { group })`) each have their own cursor and lock, so a
 * slow or failing group (the event-webhook fan-out while PostgreSQL is busy) never holds back
 * another (metrics). One process dispatches a group at a time (an advisory lock); processes
 * with the `worker` role poll every 500 ms.
 */
@Injectable()
export class TransitionPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TransitionPublisher.name);
  private readonly groups = new Map<string, Group>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Registers a consumer under a unique name (one per kind of consumer) in a group. */
  subscribe(
    name: string,
    consumer: TransitionConsumer,
    { group = IN_PROCESS_GROUP }: { group?: string } = {},
  ): void {
    const g = this.group(group);
    if (g.consumers.has(name)) throw new Error(`Transition consumer "${name}" exists`);
    g.consumers.set(name, consumer);
  }

  /** Registers a consumer of accept rejections (`email.suppressed`) in a group. */
  subscribeRejections(
    name: string,
    consumer: RejectionConsumer,
    { group = IN_PROCESS_GROUP }: { group?: string } = {},
  ): void {
    const g = this.group(group);
    if (g.rejectionConsumers.has(name)) throw new Error(`Rejection consumer "${name}" exists`);
    g.rejectionConsumers.set(name, consumer);
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
   * Delivers every transition (and rejection) committed so far to every group; answers how
   * many. Tests and the CLI call it directly; workers run it on a timer. A group that fails
   * does not stop the others; the first error is thrown once all were tried.
   */
  async drain(): Promise<number> {
    let total = 0;
    let failure: unknown = null;
    for (const g of this.groups.values()) {
      try {
        total += await this.drainGroup(g);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
    return total;
  }

  private group(name: string): Group {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, consumers: new Map(), rejectionConsumers: new Map() };
      this.groups.set(name, g);
    }
    return g;
  }

  private async drainGroup(g: Group): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.dispatchPage(g, 'transitions');
      total += n;
      if (n < PAGE) break;
    }
    if (g.rejectionConsumers.size === 0) return total;
    for (;;) {
      const n = await this.dispatchPage(g, 'rejections');
      total += n;
      if (n < PAGE) return total;
    }
  }

  /** One page: read, deliver to the group's consumers, move its cursor; 0 when another process holds it. */
  private dispatchPage(g: Group, source: 'transitions' | 'rejections'): Promise<number> {
    const cursor = source === 'transitions' ? g.name : `${g.name}:rejections`;
    return this.ds.transaction(async (em) => {
      const [{ locked }]: Array<{ locked: boolean }> = await em.query(
        g.name === IN_PROCESS_GROUP
          ? `SELECT pg_try_advisory_xact_lock($1::bigint) AS locked`
          : `SELECT pg_try_advisory_xact_lock(hashtextextended('transition-publisher:' || $1, 0)) AS locked`,
        [g.name === IN_PROCESS_GROUP ? LOCK_KEY : cursor],
      );
      if (!locked) return 0;
      // Read before this transaction writes anything: it has no xid yet, so the snapshot's
      // xmin is the oldest *other* transaction still running.
      const rows =
        source === 'transitions'
          ? await this.readTransitions(em, cursor)
          : await this.readRejections(em, cursor);
      if (rows.length === 0) return 0;
      if (source === 'transitions') {
        const events = (rows as TransitionRow[]).map(toTransition);
        for (const consumer of g.consumers.values()) await consumer(events);
      } else {
        const rejections = (rows as RejectionRow[]).map(toRejection);
        for (const consumer of g.rejectionConsumers.values()) await consumer(rejections);
      }
      const last = rows[rows.length - 1];
      await em.query(
        `INSERT INTO outbox_cursors (name, last_tx, last_id) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET last_tx = EXCLUDED.last_tx, last_id = EXCLUDED.last_id,
                                          updated_at = now()`,
        [cursor, last.tx, last.id],
      );
      return rows.length;
    });
  }

  private readTransitions(em: EntityManager, cursor: string): Promise<TransitionRow[]> {
    return em.query(
      `WITH cursor AS (
         SELECT COALESCE((SELECT last_tx FROM outbox_cursors WHERE name = $1), 0) AS last_tx,
                COALESCE((SELECT last_id FROM outbox_cursors WHERE name = $1), 0) AS last_id)
       SELECT ev.id, ev.tx, ev.email_log_id, l.external_message_id, ev.from_status, ev.event_type,
              ev.cause, ev.details, ev.occurred_at, l.recipient, l.stream, l.campaign_id, l.tag,
              l.batch_id
         FROM cursor c, email_events ev JOIN email_logs l ON l.id = ev.email_log_id
        WHERE ev.cause IS NOT NULL AND (ev.tx, ev.id) > (c.last_tx, c.last_id)
          AND ev.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ORDER BY ev.tx, ev.id LIMIT $2`,
      [cursor, PAGE],
    );
  }

  private readRejections(em: EntityManager, cursor: string): Promise<RejectionRow[]> {
    return em.query(
      `WITH cursor AS (
         SELECT COALESCE((SELECT last_tx FROM outbox_cursors WHERE name = $1), 0) AS last_tx,
                COALESCE((SELECT last_id FROM outbox_cursors WHERE name = $1), 0) AS last_id)
       SELECT r.id, r.tx, r.recipient, r.stream, r.campaign_id, r.tag, r.batch_id, r.reason,
              r.occurred_at
         FROM cursor c, accept_rejections r
        WHERE (r.tx, r.id) > (c.last_tx, c.last_id)
          AND r.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ORDER BY r.tx, r.id LIMIT $2`,
      [cursor, PAGE],
    );
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

interface TransitionRow {
  id: string;
  tx: string;
  email_log_id: string;
  external_message_id: string;
  from_status: EmailStatus | null;
  event_type: string;
  cause: string;
  details: Record<string, unknown>;
  occurred_at: Date;
  recipient: string;
  stream: Stream;
  campaign_id: string | null;
  tag: string | null;
  batch_id: string | null;
}

interface RejectionRow {
  id: string;
  tx: string;
  recipient: string;
  stream: Stream;
  campaign_id: string | null;
  tag: string | null;
  batch_id: string | null;
  reason: string;
  occurred_at: Date;
}

function toTransition(r: TransitionRow): MessageTransitioned {
  const statusChanged = !isEventCause(r.cause);
  return {
    eventId: String(r.id),
    emailLogId: String(r.email_log_id),
    messageId: r.external_message_id,
    from: r.from_status,
    to: statusChanged ? (r.event_type as EmailStatus) : (r.from_status as EmailStatus),
    type: r.event_type,
    statusChanged,
    cause: r.cause,
    details: r.details,
    at: r.occurred_at,
    message: {
      recipient: r.recipient,
      stream: r.stream,
      campaignId: r.campaign_id,
      tag: r.tag,
      batchId: r.batch_id,
    },
  };
}

function toRejection(r: RejectionRow): AcceptRejected {
  return {
    rejectionId: String(r.id),
    recipient: r.recipient,
    stream: r.stream,
    campaignId: r.campaign_id,
    tag: r.tag,
    batchId: r.batch_id,
    reason: r.reason,
    at: r.occurred_at,
  };
}
