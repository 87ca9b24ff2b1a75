import type {
  AcceptRejected,
  MessageTransitioned,
} from 'src/modules/emails/message-events.service';

/** The event types an endpoint can subscribe to (README "Event webhooks"). */
export const EVENT_TYPES = [
  'email.sent',
  'email.delivered',
  'email.delayed',
  'email.bounced',
  'email.complained',
  'email.opened',
  'email.clicked',
  'email.unsubscribed',
  'email.failed',
  'email.canceled',
  'email.suppressed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The body of one webhook request: snake_case like the API. */
export interface EventPayload {
  type: EventType;
  created_at: string;
  data: {
    message_id: string | null;
    recipient: string;
    stream: string;
    campaign_id: string | null;
    tag: string | null;
    batch_id: string | null;
    [field: string]: unknown;
  };
}

/** An event to store and fan out, with what endpoint filters match on. */
export interface OutboundEventInput {
  /** `e<email_events.id>` or `r<accept_rejections.id>`: the same outbox row is stored once. */
  sourceKey: string;
  type: EventType;
  stream: string;
  campaignId: string | null;
  tag: string | null;
  createdAt: Date;
  payload: EventPayload;
}

/**
 * Customer-facing events by the status a transition reaches (so a status added later, such as
 * `canceled`, maps without knowing its cause) or by the event a statusless row records.
 * `queued`, `processing`, `held`, `retry_scheduled` and unknown ones are internal.
 */
const BY_TYPE: Readonly<Record<string, EventType>> = {
  sent: 'email.sent',
  delivered: 'email.delivered',
  bounced: 'email.bounced',
  complained: 'email.complained',
  failed: 'email.failed',
  canceled: 'email.canceled',
  delayed: 'email.delayed',
  opened: 'email.opened',
  clicked: 'email.clicked',
  unsubscribed: 'email.unsubscribed',
};

const text = (v: unknown): string | null =>
  typeof v === 'string' && v.length > 0 ? v.slice(0, 1000) : null;

/** The event fields of each type, from the transition's details. */
function fieldsOf(type: EventType, d: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'email.bounced':
      return {
        bounce_type: d.bounce_type === 'hard' ? 'hard' : 'soft',
        reason: text(d.bounce_reason),
        diagnostic: text(d.output) ?? text(d.details) ?? text(d.error),
        smtp_code: text(d.smtp_code),
        enhanced_code: text(d.enhanced_code),
      };
    case 'email.delayed':
      return {
        diagnostic: text(d.output) ?? text(d.details),
        smtp_code: text(d.smtp_code),
        enhanced_code: text(d.enhanced_code),
      };
    case 'email.failed':
      return { reason: text(d.error) ?? text(d.bounce_reason) };
    case 'email.delivered':
      return { diagnostic: text(d.output) ?? text(d.details) };
    case 'email.opened':
      return { ip: text(d.ip), user_agent: text(d.user_agent) };
    case 'email.clicked':
      return { url: text(d.url), ip: text(d.ip), user_agent: text(d.user_agent) };
    case 'email.complained':
    case 'email.unsubscribed':
      return { source: text(d.source) };
    default:
      return {};
  }
}

/** The customer-facing event of a published transition, or null for an internal one. */
export function eventOfTransition(t: MessageTransitioned): OutboundEventInput | null {
  // A status change maps by the status reached; an event without one by what it records.
  const type = BY_TYPE[t.statusChanged ? t.to : t.type];
  if (!type) return null;
  const m = t.message;
  return {
    sourceKey: `e${t.eventId}`,
    type,
    stream: m.stream,
    campaignId: m.campaignId,
    tag: m.tag,
    createdAt: t.at,
    payload: {
      type,
      created_at: t.at.toISOString(),
      data: {
        message_id: t.messageId,
        recipient: m.recipient,
        stream: m.stream,
        campaign_id: m.campaignId,
        tag: m.tag,
        batch_id: m.batchId,
        ...fieldsOf(type, t.details ?? {}),
      },
    },
  };
}

/** `email.suppressed`: a recipient refused at accept (no message exists). */
export function eventOfRejection(r: AcceptRejected): OutboundEventInput {
  return {
    sourceKey: `r${r.rejectionId}`,
    type: 'email.suppressed',
    stream: r.stream,
    campaignId: r.campaignId,
    tag: r.tag,
    createdAt: r.at,
    payload: {
      type: 'email.suppressed',
      created_at: r.at.toISOString(),
      data: {
        message_id: null,
        recipient: r.recipient,
        stream: r.stream,
        campaign_id: r.campaignId,
        tag: r.tag,
        batch_id: r.batchId,
        reason: r.reason,
      },
    },
  };
}
