import type { RecipientRole } from 'src/modules/emails/email-log.entity';
import type { Stream } from 'src/common/streams';

/** What `email_logs.status_details` holds for a message (jsonb). */
export interface MessageDetails {
  /** The template's external_id when the caller named one (inline content: null). */
  template_id: string | null;
  variables: Record<string, unknown>;
  headers?: Record<string, string>;
  reply_to?: string | null;
  to_name?: string | null;
  /**
   * A message with several recipients (README "Sending"): every To and Cc address as given,
   * formatted for the headers; each delivery record carries the lists (Bcc never appears).
   */
  to_list?: MailboxJson[];
  cc_list?: MailboxJson[];
  /** A request subject that overrides the template's. */
  subject_override?: string | null;
  options: { track_opens: boolean; track_clicks: boolean; unsubscribe: boolean };
  /** Sandbox transport: the rendered message as it would have left. */
  sandbox?: {
    subject: string;
    html: string | null;
    text: string | null;
    headers: Record<string, string>;
    /** What was attached (the content stays in attachment_blobs until pruned). */
    attachments?: StoredAttachmentInfo[];
  };
}

/** An address and its display name, as a header lists it. */
export interface MailboxJson {
  email: string;
  name: string | null;
}

/** An attachment as the sandbox copy and the dashboard list it (README "Sending"). */
export interface StoredAttachmentInfo {
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  content_id: string | null;
}

/** One row to insert into email_logs. */
export interface NewMessage {
  externalMessageId: string;
  apiKeyId: number | null;
  templateId: number | null;
  batchId: string | null;
  campaignId: string | null;
  tag: string | null;
  stream: Stream;
  recipient: string;
  sender: string;
  subject: string | null;
  sendAt: Date | null;
  details: MessageDetails;
  /** The API message of a delivery record among several recipients; null: the row is it. */
  messageId?: string | null;
  recipientRole?: RecipientRole;
  attachmentSet?: string | null;
}
