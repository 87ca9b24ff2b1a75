import type { Stream } from 'src/common/streams';
import { createHash, randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { waitAtMost } from 'src/common/async/timeout';
import { idCursor } from 'src/common/pagination/keyset-cursor';
import type Redis from 'ioredis';
import {
  ErrorDetail,
  ServiceUnavailableError,
  TemplateInvalidError,
  TemplateNotFoundError,
  TemplateTooComplexError,
  ValidationFailedError,
} from 'src/common/errors/app-error';
import { AppConfig } from 'src/config/app-config';
import { RedisService } from 'src/infra/redis/redis.service';
import {
  EXTERNAL_ID_PATTERN,
  TemplateCreateDto,
} from 'src/modules/templates/dto/template-create.dto';
import { TemplateListQueryDto } from 'src/modules/templates/dto/template-list-query.dto';
import {
  TemplateCreatedResponseDto,
  TemplateListResponseDto,
  TemplatePreviewResponseDto,
  TemplateResponseDto,
  TemplateSummaryDto,
} from 'src/modules/templates/dto/template-response.dto';
import { TemplateUpdateDto } from 'src/modules/templates/dto/template-update.dto';
import { EmailTemplate } from 'src/modules/templates/email-template.entity';
import {
  EmailTemplatePatch,
  EmailTemplateRepository,
  EmailTemplateSummary,
  INLINE_EXTERNAL_ID_PREFIX,
  SendableTemplate,
} from 'src/modules/templates/email-template.repository';
import { TemplateEngine } from 'src/modules/templates/template-engine';
import { TemplateLimitError } from 'src/modules/templates/template-limits';
import { TemplatePool, TemplatePoolBusyError } from 'src/modules/templates/template-pool';
import {
  RenderedTemplate,
  TemplateCompileError,
  TemplateField,
  TemplateRenderError,
  TemplateSource,
} from 'src/modules/templates/template-renderer';

/** Re-exported so other modules catch render failures without reaching into this module. */
export { TemplateLimitError, TemplatePoolBusyError, TemplateRenderError };
export type { RenderedTemplate, TemplateSource };

/** A stored, active template as sending needs it. */
export interface ResolvedTemplate {
  id: number;
  externalId: string;
  subject: string;
  html: string | null;
  text: string | null;
  updatedAt: Date;
  /** The stream its messages default to (README "Streams"); null: the endpoint's default. */
  stream: Stream | null;
}

/**
 * How long a `findActive` lookup is reused in this process. Writes made anywhere are also
 * broadcast over Redis, so this only bounds staleness when a broadcast is missed.
 */
export const FIND_ACTIVE_TTL_MS = 5000;
const LOOKUP_CACHE_SIZE = 1000;
const SUBSCRIBE_TIMEOUT_MS = 5000;
const DEFAULT_LIST_LIMIT = 50;
/** Template tasks that may wait for a worker thread before new ones are refused (503/retry). */
const TEMPLATE_POOL_MAX_WAITING = 256;

/** The request fields a part of a stored template comes from (errors name these). */
const STORED_FIELD_NAMES: Record<TemplateField, string> = {
  subject: 'subject',
  html: 'html_content',
  text: 'plain_content',
};
/** The inline fields of a send or batch request. */
const INLINE_FIELD_NAMES: Record<TemplateField, string> = {
  subject: 'subject',
  html: 'html',
  text: 'text',
};

const iso = (d: Date): string => d.toISOString();
const emptyToNull = (s: string | null | undefined): string | null => (s ? s : null);

/**
 * Templates (README "Management"): CRUD over email_templates, compile checks at write time, and
 * rendering for previews and sending. Compiled templates are cached per process under
 * `id:updated_at`, so an update made by any process yields a new key.
 */
@Injectable()
export class TemplatesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TemplatesService.name);
  /** Compiles and renders within the TEMPLATE_* limits (README "Security"). */
  private readonly engine: TemplateEngine;
  private readonly channel: string;
  private subscriber?: Redis;
  private readonly byExternalId = new LookupCache<string>();
  private readonly byId = new LookupCache<number>();
  private readonly inlineIds = new Map<string, number>();

  constructor(
    private readonly templates: EmailTemplateRepository,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    this.channel = redis.key('templates', 'invalidate');
    const limits = config.templates;
    this.engine = new TemplateEngine(
      limits,
      new TemplatePool({
        threads: limits.workerThreads,
        memoryMb: limits.workerMemoryMb,
        timeoutMs: limits.timeoutMs,
        maxWaiting: TEMPLATE_POOL_MAX_WAITING,
      }),
    );
  }

  async onModuleInit(): Promise<void> {
    // Unlike the command client, SUBSCRIBE waits for a connection instead of failing fast,
    // so a process that starts while Redis is away still subscribes once it is back.
    const subscriber = this.redis.client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.subscriber = subscriber;
    subscriber.on('error', (err: Error) => this.logger.warn(`redis subscriber: ${err.message}`));
    subscriber.on('message', (channel: string, externalId: string) => {
      if (channel === this.channel) this.forget(externalId);
    });
    // Broadcasts sent while disconnected are lost: start over after every (re)connect.
    subscriber.on('ready', () => this.forgetAll());
    await waitAtMost(subscriber.subscribe(this.channel), SUBSCRIBE_TIMEOUT_MS).catch((err: Error) =>
      this.logger.warn(`template invalidation: ${err.message}`),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    // A subscriber has nothing to flush; QUIT could wait on a down Redis (offline queue).
    this.subscriber?.disconnect();
    // The template worker threads would otherwise keep the process alive.
    await this.engine.close();
  }

  // ---- API for other modules ------------------------------------------------------------

  /** The active template with this external_id, or null (unknown or deactivated). */
  async findActive(externalId: string): Promise<ResolvedTemplate | null> {
    if (!EXTERNAL_ID_PATTERN.test(externalId)) return null;
    return this.byExternalId.get(externalId, async () => {
      const row = await this.templates.findActiveByExternalId(externalId);
      return row ? toResolved(row) : null;
    });
  }

  /**
   * The template a queued message refers to (email_logs.template_id), deactivated or not:
   * deactivation stops new sends, not messages already accepted. Null when it was deleted.
   */
  async getForRender(id: number): Promise<ResolvedTemplate | null> {
    return this.byId.get(id, async () => {
      const row = await this.templates.findSendableById(id);
      return row ? toResolved(row) : null;
    });
  }

  /**
   * Stores the inline content of a send request so the worker can render it by id later;
   * equal content shares one row. These rows are inactive and invisible to the templates API.
   * Call `assertCompiles` first.
   */
  async upsertInline(src: TemplateSource): Promise<number> {
    // Inline rows are content-addressed and never change: the id can be kept for good.
    const digest = inlineDigest(src);
    const known = this.inlineIds.get(digest);
    if (known !== undefined) return known;
    const id = await this.templates.upsertInline({
      externalId: `${INLINE_EXTERNAL_ID_PREFIX}${digest.slice(0, 56)}`,
      subject: src.subject ?? '',
      htmlContent: emptyToNull(src.html),
      plainContent: emptyToNull(src.text),
    });
    remember(this.inlineIds, digest, id, INLINE_CACHE_SIZE);
    return id;
  }

  /**
   * Renders a stored template within the TEMPLATE_* limits. Throws TemplateRenderError (also
   * if it no longer compiles), TemplateLimitError (over a limit: the message fails as
   * template_too_complex) or TemplatePoolBusyError (retry later).
   */
  render(t: ResolvedTemplate, vars: Record<string, unknown>): Promise<RenderedTemplate> {
    return this.engine.render(
      { subject: t.subject, html: t.html, text: t.text },
      () => `${t.id}:${t.updatedAt.getTime()}`,
      vars,
    );
  }

  /** Renders inline content of a send request; throws as `render` does. */
  renderInline(src: TemplateSource, vars: Record<string, unknown>): Promise<RenderedTemplate> {
    return this.engine.render(src, () => `inline:${inlineDigest(src)}`, vars);
  }

  /**
   * Accept-time check of inline content (`subject`, `html`, `text` of a send or batch): throws
   * TemplateInvalidError (422 template_invalid) for a field that does not compile, and
   * TemplateTooComplexError (422 template_too_complex) for one over a TEMPLATE_* limit — with
   * `variables` (every set the content will be rendered with), the estimated render cost too.
   */
  async assertCompiles(src: TemplateSource, variables?: ReadonlyArray<unknown>): Promise<void> {
    // The same inline content (one app's notification template) is compiled once per process.
    await this.checkContent(
      src,
      () => `inline:${inlineDigest(src)}`,
      INLINE_FIELD_NAMES,
      variables,
    );
  }

  /**
   * Accept-time check of a send with a stored template: the estimated cost of rendering it
   * with `variables` (every set it will be rendered with). Throws TemplateTooComplexError.
   */
  async assertRenderable(t: ResolvedTemplate, variables: ReadonlyArray<unknown>): Promise<void> {
    await this.checkContent(
      { subject: t.subject, html: t.html, text: t.text },
      () => `${t.id}:${t.updatedAt.getTime()}`,
      STORED_FIELD_NAMES,
      variables,
    );
  }

  // ---- HTTP API -------------------------------------------------------------------------

  async create(dto: TemplateCreateDto): Promise<TemplateCreatedResponseDto> {
    const html = emptyToNull(dto.html_content);
    const text = emptyToNull(dto.plain_content);
    assertHasBody(html, text);
    await this.checkCompiles({ subject: dto.subject, html, text }, STORED_FIELD_NAMES);

    const row = await this.templates.insert({
      externalId: dto.external_id,
      name: dto.name,
      subject: dto.subject,
      htmlContent: html,
      plainContent: text,
      variables: dto.variables ?? [],
      stream: dto.stream ?? null,
    });
    if (!row) {
      throw new ValidationFailedError('external_id has already been taken', [
        { field: 'external_id', message: 'has already been taken' },
      ]);
    }
    await this.invalidate(row.externalId);
    return {
      id: row.id,
      external_id: row.externalId,
      name: row.name,
      created_at: iso(row.createdAt),
    };
  }

  async list(query: TemplateListQueryDto): Promise<TemplateListResponseDto> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const active = query.active === 'all' ? null : query.active !== 'false';
    const beforeId = query.cursor === undefined ? null : TEMPLATE_CURSOR.decode(query.cursor);
    const rows = await this.templates.list({ active, beforeId, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return {
      data: page.map(toSummaryDto),
      next_cursor: rows.length > limit ? TEMPLATE_CURSOR.encode(page[page.length - 1].id) : null,
    };
  }

  async get(externalId: string): Promise<TemplateResponseDto> {
    return toResponseDto(await this.mustFind(externalId));
  }

  async update(externalId: string, dto: TemplateUpdateDto): Promise<TemplateResponseDto> {
    if (!EXTERNAL_ID_PATTERN.test(externalId)) throw new TemplateNotFoundError(externalId);
    const patch: EmailTemplatePatch = {};
    if (dto.name !== undefined) patch.name = dto.name;
    if (dto.subject !== undefined) patch.subject = dto.subject;
    if (dto.html_content !== undefined) patch.htmlContent = emptyToNull(dto.html_content);
    if (dto.plain_content !== undefined) patch.plainContent = emptyToNull(dto.plain_content);
    if (dto.variables !== undefined) patch.variables = dto.variables;
    if (dto.active !== undefined) patch.active = dto.active;
    if (dto.stream !== undefined) patch.stream = dto.stream;
    // Only what changes is compiled here; the rest compiled when it was stored.
    const changed: TemplateSource = {
      subject: patch.subject,
      html: patch.htmlContent,
      text: patch.plainContent,
    };
    await this.checkCompiles(changed, STORED_FIELD_NAMES);

    const row = await this.templates.updateByExternalId(externalId, patch, (merged) =>
      assertHasBody(merged.htmlContent, merged.plainContent),
    );
    if (!row) throw new TemplateNotFoundError(externalId);
    await this.invalidate(externalId);
    return toResponseDto(row);
  }

  async deactivate(externalId: string): Promise<TemplateResponseDto> {
    if (!EXTERNAL_ID_PATTERN.test(externalId)) throw new TemplateNotFoundError(externalId);
    const row = await this.templates.deactivate(externalId);
    if (!row) throw new TemplateNotFoundError(externalId);
    await this.invalidate(externalId);
    return toResponseDto(row);
  }

  /** Renders any stored template (deactivated ones too) with sample built-in variables. */
  async preview(
    externalId: string,
    variables: Record<string, unknown> = {},
  ): Promise<TemplatePreviewResponseDto> {
    const row = await this.mustFind(externalId);
    const vars = {
      message_id: randomUUID(),
      recipient: 'recipient@example.com',
      unsubscribe_url: `${this.config.publicUrl}/unsubscribe/preview`,
      campaign_id: null,
      ...variables,
    };
    try {
      return await this.render(toResolved(row), vars);
    } catch (error) {
      if (error instanceof TemplateLimitError) throw toTooComplexError(error, STORED_FIELD_NAMES);
      if (error instanceof TemplatePoolBusyError) throw new ServiceUnavailableError(error.message);
      if (!(error instanceof TemplateRenderError)) throw error;
      const field = error.field ? STORED_FIELD_NAMES[error.field] : undefined;
      throw new TemplateInvalidError(
        `The template does not render: ${error.message}`,
        field ? [{ field, message: error.message }] : undefined,
      );
    }
  }

  // ---- internals ------------------------------------------------------------------------

  private async mustFind(externalId: string): Promise<EmailTemplate> {
    const row = EXTERNAL_ID_PATTERN.test(externalId)
      ? await this.templates.findByExternalId(externalId)
      : null;
    if (!row) throw new TemplateNotFoundError(externalId);
    return row;
  }

  /** Create/update: compiles and checks the static limits (no variables are known yet). */
  private async checkCompiles(
    src: TemplateSource,
    names: Record<TemplateField, string>,
  ): Promise<void> {
    await this.checkContent(src, () => `stored:${inlineDigest(src)}`, names);
  }

  private async checkContent(
    src: TemplateSource,
    keyOf: () => string,
    names: Record<TemplateField, string>,
    variables?: ReadonlyArray<unknown>,
  ): Promise<void> {
    try {
      await this.engine.check(src, keyOf, variables);
    } catch (error) {
      if (error instanceof TemplateCompileError) throw toInvalidError(error, names[error.field]);
      if (error instanceof TemplateLimitError) throw toTooComplexError(error, names);
      if (error instanceof TemplatePoolBusyError) throw new ServiceUnavailableError(error.message);
      throw error;
    }
  }

  /** Drops this process's cached lookup and tells the other processes to do the same. */
  private async invalidate(externalId: string): Promise<void> {
    this.forget(externalId);
    try {
      await this.redis.client.publish(this.channel, externalId);
    } catch (error) {
      // The write is committed; other processes catch up within FIND_ACTIVE_TTL_MS.
      this.logger.warn(`template invalidation not broadcast: ${(error as Error).message}`);
    }
  }

  private forget(externalId: string): void {
    this.byExternalId.forget((key) => key === externalId);
    this.byId.forget((_key, value) => value?.externalId === externalId);
  }

  private forgetAll(): void {
    this.byExternalId.forget(() => true);
    this.byId.forget(() => true);
  }
}

/** A small TTL + LRU cache of lookups that never stores a result older than an invalidation. */
class LookupCache<K> {
  private readonly entries = new Map<K, { value: ResolvedTemplate | null; expiresAt: number }>();
  /** Bumped on every invalidation so a lookup that started before it is not cached. */
  private generation = 0;

  async get(
    key: K,
    load: () => Promise<ResolvedTemplate | null>,
  ): Promise<ResolvedTemplate | null> {
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (generation === this.generation) {
      this.entries.delete(key);
      this.entries.set(key, { value, expiresAt: Date.now() + FIND_ACTIVE_TTL_MS });
      if (this.entries.size > LOOKUP_CACHE_SIZE) {
        this.entries.delete(this.entries.keys().next().value as K);
      }
    }
    return value;
  }

  forget(matches: (key: K, value: ResolvedTemplate | null) => boolean): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) {
      if (matches(key, entry.value)) this.entries.delete(key);
    }
  }
}

const INLINE_CACHE_SIZE = 2000;

/** Bounded insertion-order cache: the oldest entry goes first. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

/** Digests already computed, by content object: a send checks, then stores, the same `src`. */
const digests = new WeakMap<TemplateSource, string>();

/** The content's identity (cache keys, the inline row's external id), computed once per `src`. */
function inlineDigest(src: TemplateSource): string {
  let digest = digests.get(src);
  if (digest === undefined) {
    digest = createHash('sha256')
      .update(JSON.stringify([src.subject ?? '', src.html ?? '', src.text ?? '']))
      .digest('hex');
    digests.set(src, digest);
  }
  return digest;
}

function assertHasBody(html: string | null, text: string | null): void {
  if (html || text) return;
  const message = 'html_content or plain_content is required';
  throw new ValidationFailedError(message, [
    { field: 'html_content', message },
    { field: 'plain_content', message },
  ]);
}

function toInvalidError(error: TemplateCompileError, field: string): TemplateInvalidError {
  // The renderer prefixes its own part name ("html: …"); callers know the request field.
  const reason = error.message.replace(/^(subject|html|text): /, '');
  const at =
    error.line === null
      ? ''
      : ` at line ${error.line}${error.column ? `, column ${error.column}` : ''}`;
  const detail: ErrorDetail = { field, message: reason, line: error.line, column: error.column };
  return new TemplateInvalidError(`${field} does not compile${at}: ${reason}`, [detail]);
}

/** 422 template_too_complex naming the request field and the limit (its variable name). */
function toTooComplexError(
  error: TemplateLimitError,
  names: Record<TemplateField, string>,
): TemplateTooComplexError {
  const field = error.field ? names[error.field] : undefined;
  // The limit code prefixes its own part name ("html …"); callers know the request field.
  const message =
    field && error.field
      ? error.message.replace(new RegExp(`^${error.field}\\b`), field)
      : error.message;
  const detail: ErrorDetail = { ...(field ? { field } : {}), message, limit: error.limit };
  if (error.max !== null) detail.max = error.max;
  if (error.actual !== null) detail.actual = error.actual;
  return new TemplateTooComplexError(`The template is too complex: ${message}`, [detail]);
}

/** `GET /api/v1/templates`: the last row's email_templates.id (integer). */
const TEMPLATE_CURSOR = idCursor('integer');

function toResolved(row: SendableTemplate): ResolvedTemplate {
  return Object.freeze({
    id: row.id,
    externalId: row.externalId,
    subject: row.subject,
    html: row.htmlContent,
    text: row.plainContent,
    updatedAt: row.updatedAt,
    stream: row.stream ?? null,
  });
}

function toSummaryDto(row: EmailTemplateSummary): TemplateSummaryDto {
  return {
    id: row.id,
    external_id: row.externalId,
    name: row.name,
    subject: row.subject,
    variables: row.variables,
    stream: row.stream ?? null,
    active: row.active,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

function toResponseDto(row: EmailTemplate): TemplateResponseDto {
  return {
    ...toSummaryDto(row),
    html_content: row.htmlContent,
    plain_content: row.plainContent,
  };
}
