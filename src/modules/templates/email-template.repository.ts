import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, QueryDeepPartialEntity, Repository } from 'typeorm';
import { EmailTemplate } from 'src/modules/templates/email-template.entity';

const EXTERNAL_ID_UNIQUE = 'uq_email_templates_external_id';
/**
 * external_id prefix of rows that hold a send request's inline content. ":" is not allowed in
 * API external_ids, so these rows can't be created, addressed or used by template_id.
 */
export const INLINE_EXTERNAL_ID_PREFIX = 'inline:';

/**
 * Every write moves updated_at forward by at least one millisecond, even for two writes in
 * the same millisecond: compiled templates are cached under `id:updated_at` in ms.
 */
const BUMP_UPDATED_AT = () => `GREATEST(now(), updated_at + interval '1 millisecond')`;

export type NewEmailTemplate = Pick<
  EmailTemplate,
  'externalId' | 'name' | 'subject' | 'htmlContent' | 'plainContent' | 'variables' | 'stream'
>;

export type EmailTemplatePatch = Partial<
  Pick<
    EmailTemplate,
    'name' | 'subject' | 'htmlContent' | 'plainContent' | 'variables' | 'active' | 'stream'
  >
>;

/** What sending needs of a template (no name, no variable list). */
export type SendableTemplate = Pick<
  EmailTemplate,
  'id' | 'externalId' | 'subject' | 'htmlContent' | 'plainContent' | 'updatedAt' | 'stream'
>;

/** The columns of a list row (no bodies). */
export type EmailTemplateSummary = Omit<EmailTemplate, 'htmlContent' | 'plainContent'>;

const SENDABLE = {
  id: true,
  externalId: true,
  subject: true,
  htmlContent: true,
  plainContent: true,
  updatedAt: true,
  stream: true,
} as const;

/*
 * The `as QueryDeepPartialEntity<EmailTemplate>` casts below: `variables` is jsonb, which
 * TypeORM serialises as a whole, but its types model `unknown[]` as nested entities.
 */

/** Queries over email_templates; SQL stays in here. */
@Injectable()
export class EmailTemplateRepository {
  constructor(
    @InjectRepository(EmailTemplate) private readonly templates: Repository<EmailTemplate>,
  ) {}

  /** Inserts a template; null when the external_id is taken (a concurrent insert included). */
  async insert(values: NewEmailTemplate): Promise<EmailTemplate | null> {
    // DO NOTHING rather than catching 23505: a duplicate is an expected answer, not a
    // failed query for the logs. external_id is the only key a client controls.
    const result = await this.templates
      .createQueryBuilder()
      .insert()
      .into(EmailTemplate)
      .values(values as QueryDeepPartialEntity<EmailTemplate>)
      .orIgnore()
      .execute();
    const generated = result.generatedMaps[0];
    if ((result.raw as unknown[]).length === 0 || !generated) return null;
    return this.templates.create({ ...values, ...generated });
  }

  findByExternalId(externalId: string): Promise<EmailTemplate | null> {
    return this.templates.findOne({ where: { externalId } });
  }

  findActiveByExternalId(externalId: string): Promise<SendableTemplate | null> {
    return this.templates.findOne({ select: SENDABLE, where: { externalId, active: true } });
  }

  /** By id, active or not (messages accepted before a deactivation still render). */
  findSendableById(id: number): Promise<SendableTemplate | null> {
    return this.templates.findOne({ select: SENDABLE, where: { id } });
  }

  /**
   * The id of the (inactive, API-invisible) row holding this inline content, inserting it
   * when new. `externalId` is derived from a hash of the content, so equal content shares a row.
   */
  async upsertInline(values: {
    externalId: string;
    subject: string;
    htmlContent: string | null;
    plainContent: string | null;
  }): Promise<number> {
    const inserted: Array<{ id: number }> = await this.templates.query(
      `INSERT INTO email_templates (external_id, name, subject, html_content, plain_content, active)
       VALUES ($1, 'inline content', $2, $3, $4, false)
       ON CONFLICT ON CONSTRAINT ${EXTERNAL_ID_UNIQUE} DO NOTHING
       RETURNING id`,
      [values.externalId, values.subject, values.htmlContent, values.plainContent],
    );
    if (inserted.length > 0) return inserted[0].id;
    const existing: Array<{ id: number }> = await this.templates.query(
      'SELECT id FROM email_templates WHERE external_id = $1',
      [values.externalId],
    );
    return existing[0].id;
  }

  /** One keyset page, newest first: ids below `beforeId`; `active` null means both. */
  list(opts: {
    active: boolean | null;
    beforeId: number | null;
    limit: number;
  }): Promise<EmailTemplateSummary[]> {
    const q = this.templates
      .createQueryBuilder('t')
      .select([
        't.id',
        't.externalId',
        't.name',
        't.subject',
        't.variables',
        't.stream',
        't.active',
        't.createdAt',
        't.updatedAt',
      ])
      .where('t.external_id NOT LIKE :inline', { inline: `${INLINE_EXTERNAL_ID_PREFIX}%` })
      .orderBy('t.id', 'DESC')
      .limit(opts.limit);
    if (opts.active !== null) q.andWhere('t.active = :active', { active: opts.active });
    if (opts.beforeId !== null) q.andWhere('t.id < :beforeId', { beforeId: opts.beforeId });
    return q.getMany();
  }

  /**
   * Applies `patch` to the row under a row lock. `check` sees the row as it would be after
   * the patch and may throw to abort (nothing is written then). Null when there is no row.
   */
  updateByExternalId(
    externalId: string,
    patch: EmailTemplatePatch,
    check: (merged: EmailTemplate) => void,
  ): Promise<EmailTemplate | null> {
    return this.templates.manager.transaction(async (m) => {
      const current = await m.findOne(EmailTemplate, {
        where: { externalId },
        lock: { mode: 'pessimistic_write' },
      });
      if (!current) return null;
      check({ ...current, ...patch });
      return this.applyPatch(m, current.id, patch);
    });
  }

  /** Sets active = false (idempotent); the row, or null when there is none. */
  async deactivate(externalId: string): Promise<EmailTemplate | null> {
    await this.templates
      .createQueryBuilder()
      .update(EmailTemplate)
      .set({ active: false, updatedAt: BUMP_UPDATED_AT })
      .where('external_id = :externalId AND active', { externalId })
      .execute();
    return this.findByExternalId(externalId);
  }

  private async applyPatch(
    m: EntityManager,
    id: number,
    patch: EmailTemplatePatch,
  ): Promise<EmailTemplate> {
    await m
      .createQueryBuilder()
      .update(EmailTemplate)
      .set({ ...patch, updatedAt: BUMP_UPDATED_AT } as QueryDeepPartialEntity<EmailTemplate>)
      .where('id = :id', { id })
      .execute();
    return m.findOneOrFail(EmailTemplate, { where: { id } });
  }
}
