import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** The stored copy of a sandbox message (email_logs.status_details.sandbox). */
export interface SandboxCopy {
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  /** What was attached, in order (position = index); README "Sending": attachments. */
  attachments: Array<{
    filename: string;
    contentType: string;
    size: number;
    sha256: string;
    contentId: string | null;
  }>;
}

/** What the message page shows beyond GET /api/v1/status: envelope, request, rendered copy. */
export interface MessageExtras {
  sender: string;
  subject: string | null;
  batchId: string | null;
  providerMessageId: string | null;
  replyTo: string | null;
  headers: Record<string, string>;
  options: Record<string, unknown>;
  variables: Record<string, unknown>;
  sandbox: SandboxCopy | null;
}

interface ExtrasRow {
  sender: string;
  subject: string | null;
  batch_id: string | null;
  provider_message_id: string | null;
  reply_to: unknown;
  headers: unknown;
  options: unknown;
  variables: unknown;
  sandbox: unknown;
}

const asRecord = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const asString = (v: unknown): string | null => (typeof v === 'string' ? v : null);

const stringRecord = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(asRecord(v)).map(([k, val]) => [k, String(val)]));

/**
 * One read-only lookup for the message page. The emails module's status read (EmailsService.
 * getStatus, reused for the fields and timeline) does not return the envelope or the sandbox's
 * stored copy, so this reads just those columns of the one row, by the unique message id.
 */
@Injectable()
export class DashboardMessageRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async extras(messageId: string): Promise<MessageExtras | null> {
    const rows: ExtrasRow[] = await this.ds.query(
      `SELECT sender, subject, batch_id, provider_message_id,
              status_details->'reply_to' AS reply_to, status_details->'headers' AS headers,
              status_details->'options' AS options, status_details->'variables' AS variables,
              status_details->'sandbox' AS sandbox
         FROM email_logs WHERE external_message_id = $1`,
      [messageId],
    );
    const row = rows[0];
    if (!row) return null;
    const copy = asRecord(row.sandbox);
    return {
      sender: row.sender,
      subject: row.subject,
      batchId: row.batch_id,
      providerMessageId: row.provider_message_id,
      replyTo: asString(row.reply_to),
      headers: stringRecord(row.headers),
      options: asRecord(row.options),
      variables: asRecord(row.variables),
      sandbox:
        row.sandbox === null || row.sandbox === undefined
          ? null
          : {
              subject: asString(copy.subject) ?? '',
              html: asString(copy.html),
              text: asString(copy.text),
              headers: stringRecord(copy.headers),
              attachments: (Array.isArray(copy.attachments) ? copy.attachments : []).map(
                (a: unknown) => {
                  const r = asRecord(a);
                  return {
                    filename: asString(r.filename) ?? '',
                    contentType: asString(r.content_type) ?? 'application/octet-stream',
                    size: Number(r.size) || 0,
                    sha256: asString(r.sha256) ?? '',
                    contentId: asString(r.content_id),
                  };
                },
              ),
            },
    };
  }
}
