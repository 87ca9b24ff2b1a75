import { Injectable } from '@nestjs/common';
import {
  AttachmentMeta,
  AttachmentsRepository,
} from 'src/modules/emails/attachments/attachments.repository';

/** An attachment with its content, as a transport needs it. */
export interface LoadedAttachment extends AttachmentMeta {
  content: Buffer;
}

/** Thrown when a message's attachments were pruned before it was sent (it then fails). */
export class AttachmentsUnavailableError extends Error {}

/** Content kept in this process's cache, by SHA-256 (a batch's PDF is read once per worker). */
const CACHE_BYTES = 64 * 1024 * 1024;
const SET_CACHE_ENTRIES = 1000;
/** A blob touched more recently than this is never pruned (an accept may be linking it). */
const BLOB_GRACE_S = 600;

/**
 * Attachments after accept (README "Sending", docs/ARCHITECTURE.md "Recipients and attachments"): the list a
 * delivery carries with its content (cached per process: sets and blobs never change), the
 * list and one blob for the dashboard, and the prune of content no delivery needs.
 */
@Injectable()
export class AttachmentsService {
  private readonly sets = new Map<string, AttachmentMeta[]>();
  private readonly contents = new Map<string, Buffer>();
  private cachedBytes = 0;

  constructor(private readonly repo: AttachmentsRepository) {}

  /** The attachments of a set in order, with content. */
  async load(setId: string): Promise<LoadedAttachment[]> {
    const list = await this.list(setId);
    if (list.length === 0) throw new AttachmentsUnavailableError('the attachments were pruned');
    const missing = [...new Set(list.map((a) => a.sha256))].filter((h) => !this.contents.has(h));
    const fetched = await this.repo.blobs(missing);
    for (const [hash, content] of fetched) this.remember(hash, content);
    return list.map((a) => {
      const content = this.contents.get(a.sha256) ?? fetched.get(a.sha256);
      if (!content) throw new AttachmentsUnavailableError(`attachment ${a.filename} was pruned`);
      return { ...a, content };
    });
  }

  /** The attachments of a set without content (sets never change: cached). */
  async list(setId: string): Promise<AttachmentMeta[]> {
    const cached = this.sets.get(setId);
    if (cached) return cached;
    const list = await this.repo.listSet(setId);
    if (list.length > 0) {
      if (this.sets.size >= SET_CACHE_ENTRIES) this.sets.delete(this.sets.keys().next().value!);
      this.sets.set(setId, list);
    }
    return list;
  }

  /** The attachments a delivery record carries (its id), without content. */
  async listForMessage(messageId: string): Promise<AttachmentMeta[]> {
    const setId = await this.repo.setOfMessage(messageId);
    return setId ? this.repo.listSet(setId) : [];
  }

  /** One attachment of a delivery record, by position, with content; null when gone. */
  async attachmentOf(messageId: string, position: number): Promise<LoadedAttachment | null> {
    const list = await this.listForMessage(messageId);
    const meta = list.find((a) => a.position === position);
    if (!meta) return null;
    const content = (await this.repo.blobs([meta.sha256])).get(meta.sha256);
    return content ? { ...meta, content } : null;
  }

  /** The maintenance job (EmailDeliveryJob.PruneAttachments). */
  prune(blobGraceS = BLOB_GRACE_S): Promise<{ sets: number; blobs: number }> {
    return this.repo.prune(blobGraceS);
  }

  private remember(hash: string, content: Buffer): void {
    if (content.length > CACHE_BYTES / 4) return;
    while (this.cachedBytes + content.length > CACHE_BYTES && this.contents.size > 0) {
      const [oldest, buf] = this.contents.entries().next().value!;
      this.contents.delete(oldest);
      this.cachedBytes -= buf.length;
    }
    this.contents.set(hash, content);
    this.cachedBytes += content.length;
  }
}
