/**
 * The port through which a transport that reports its own outcomes (the sandbox) hands
 * Postal-format events to the same ingestion path as Postal's webhooks: stored once per
 * `uuid` in `webhook_events`, then handed over to the emails module's Postal event
 * interpretation (docs/ARCHITECTURE.md "Transports", "Postal events").
 *
 * Defined here, below the feature modules, so that the emails module depends on neither the
 * webhooks module nor its queue: the webhooks module implements it (WebhooksIngressModule)
 * and Nest injects it into the transport.
 */

/** Who produced a stored event; kept with the event's details (`source`). */
export type PostalEventSource = 'postal' | 'sandbox';

/** Postal's webhook envelope `{uuid, event, timestamp, payload}` (README "Postal set-up"). */
export interface PostalEnvelope {
  uuid: string;
  event: string;
  /** Seconds since the epoch, as Postal sends it. */
  timestamp?: number;
  payload: Record<string, unknown>;
}

export abstract class PostalEventIngress {
  /**
   * Stores the event (once per uuid) and hands it over at once; resolves when it has been
   * processed, or queued for the webhooks worker when processing failed. Events are
   * processed in the order they are ingested.
   */
  abstract ingest(envelope: PostalEnvelope, source: PostalEventSource): Promise<void>;
}
