/**
 * The message statuses and event types, for other modules (the dashboard's filters and
 * colours) that may not import the entities themselves.
 */
export { EMAIL_STATUSES, type EmailStatus } from 'src/modules/emails/email-log.entity';
export { EMAIL_EVENT_TYPES, type EmailEventType } from 'src/modules/emails/email-event.entity';
