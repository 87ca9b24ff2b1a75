import type { EmailEventType } from 'src/modules/emails/email-event.entity';

/**
 * Events that change no status (docs/ARCHITECTURE.md "Transition events"): a deferral, an
 * open, a click, an unsubscribe. Their `email_events` row is published like a transition's,
 * with one of these causes and `from_status` = the status the message is in (and stays in);
 * their `event_type` is the event, not a status.
 */
export const EVENT_CAUSES = {
  deferral: 'delayed',
  open: 'opened',
  click: 'clicked',
  unsubscribe: 'unsubscribed',
} as const satisfies Record<string, EmailEventType>;

export type EventCause = keyof typeof EVENT_CAUSES;
export type StatuslessEventType = (typeof EVENT_CAUSES)[EventCause];

const CAUSE_BY_EVENT = new Map<string, EventCause>(
  (Object.entries(EVENT_CAUSES) as Array<[EventCause, string]>).map(([c, t]) => [t, c]),
);

export function causeOfEvent(type: StatuslessEventType): EventCause {
  return CAUSE_BY_EVENT.get(type)!;
}

/** True for the causes above: the row records an event, not a status change. */
export function isEventCause(cause: string): cause is EventCause {
  return Object.prototype.hasOwnProperty.call(EVENT_CAUSES, cause);
}
