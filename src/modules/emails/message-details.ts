import type { Stream } from 'src/common/streams';

/** What `email_logs.status_details` holds for a message (jsonb). */
export interface MessageDetails {
  /** The template's external_id when the caller named one (inline content: null). */
  template_id: string | null;
  variables: Record<string, unknown>;
  headers?: Record<string, string>;
  reply_to?: string | null;
  to_name?: string | null;
  /** A request subject that overrides the template's. */
  subject_override?: string | null;
  options: { track_opens: boolean; track_clicks: boolean; unsubscribe: boolean };
  /** Sandbox transport: the rendered message as it would have left. */
  sandbox?: {
    subject: string;
    html: string | null;
    text: string | null;
    headers: Record<string, string>;
  };
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
}
