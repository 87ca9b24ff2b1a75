import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** One attachment of a set, without its content. */
export interface AttachmentMeta {
  position: number;
  filename: string;
  contentType: string;
  contentId: string | null;
  size: number;
  sha256: string;
}

/**
 * Statuses in which a delivery may still need its attachments: waiting to be sent or sent
 * again, or not yet settled (a soft bounce of a `sent`/`held`/`bounced` message schedules a
 * resend). Delivered, failed, complained, hard-bounced (and any status added later) no longer
 * need them (docs/ARCHITECTURE.md "Recipients and attachments").
 */
export const CONTENT_NEEDED_SQL = (alias: string) =>
  `(${alias}.status IN ('queued', 'processing', 'retry_scheduled', 'sent', 'held')
    OR (${alias}.status = 'bounced' AND ${alias}.bounce_type IS DISTINCT FROM 'hard'))`;

/**
 * Content-addressed attachment storage (README "Sending": attachments): reads of the blobs
 * keyed by SHA-256 and of the attachment sets that link a send or a batch to them, and their
 * prune. Sets are written at accept by MessageWritesRepository.insertAttachmentSet.
 */
@Injectable()
export class AttachmentsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async listSet(setId: string): Promise<AttachmentMeta[]> {
    const rows: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT position, filename, content_type, content_id, size, sha256
         FROM message_attachments WHERE set_id = $1 ORDER BY position`,
      [setId],
    );
    return rows.map((r) => ({
      position: Number(r.position),
      filename: String(r.filename),
      contentType: String(r.content_type),
      contentId: (r.content_id as string | null) ?? null,
      size: Number(r.size),
      sha256: String(r.sha256),
    }));
  }

  async blobs(hashes: string[]): Promise<Map<string, Buffer>> {
    if (hashes.length === 0) return new Map();
    const rows: Array<{ sha256: string; content: Buffer }> = await this.ds.query(
      `SELECT sha256, content FROM attachment_blobs WHERE sha256 = ANY($1::char(64)[])`,
      [hashes],
    );
    return new Map(rows.map((r) => [r.sha256, r.content]));
  }

  /** The attachment set of a delivery record (by its id, `external_message_id`). */
  async setOfMessage(messageId: string): Promise<string | null> {
    const rows: Array<{ attachment_set: string | null }> = await this.ds.query(
      `SELECT attachment_set FROM email_logs WHERE external_message_id = $1`,
      [messageId],
    );
    return rows[0]?.attachment_set ?? null;
  }

  /**
   * Deletes the sets no delivery needs any more (CONTENT_NEEDED_SQL; a set and its delivery
   * records commit together, so a set is never seen without them), then the blobs no set
   * links, untouched for `blobGraceS` (an accept linking one touches and locks it first).
   */
  async prune(blobGraceS: number): Promise<{ sets: number; blobs: number }> {
    const sets: Array<{ n: string }> = await this.ds.query(
      `WITH gone AS (
         DELETE FROM message_attachments a
          WHERE NOT EXISTS (SELECT 1 FROM email_logs e
                             WHERE e.attachment_set = a.set_id AND ${CONTENT_NEEDED_SQL('e')})
         RETURNING set_id)
       SELECT count(DISTINCT set_id)::text AS n FROM gone`,
    );
    const blobs: Array<{ n: string }> = await this.ds.query(
      `WITH gone AS (
         DELETE FROM attachment_blobs b
          WHERE b.last_used_at < now() - make_interval(secs => $1)
            AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.sha256 = b.sha256)
         RETURNING 1)
       SELECT count(*)::text AS n FROM gone`,
      [blobGraceS],
    );
    return { sets: Number(sets[0]?.n ?? 0), blobs: Number(blobs[0]?.n ?? 0) };
  }
}
