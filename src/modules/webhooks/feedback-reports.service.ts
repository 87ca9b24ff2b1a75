import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { NotFoundError } from 'src/common/errors/app-error';
import { idCursor } from 'src/common/pagination/keyset-cursor';
import { toStorableString } from 'src/common/text/storable-text';
import {
  FEEDBACK_LIST_DEFAULT_LIMIT,
  FeedbackReportDetailDto,
  FeedbackReportListQueryDto,
  FeedbackReportListResponseDto,
  FeedbackReportResponseDto,
} from 'src/modules/webhooks/dto/feedback-report.dto';
import { FeedbackReport, FeedbackOutcome } from 'src/modules/webhooks/feedback-report.entity';

export interface FeedbackReportInput {
  outcome: FeedbackOutcome;
  feedbackType?: string | null;
  userAgent?: string | null;
  originalRecipient?: string | null;
  originalMailFrom?: string | null;
  reportedDomain?: string | null;
  sourceIp?: string | null;
  arrivalDate?: Date | null;
  claimedEmailId?: string | null;
  claimedMessageId?: string | null;
  messageId?: string | null;
  details?: Record<string, unknown>;
  error?: string | null;
  raw?: Buffer | null;
}

const MAX_ERROR_LENGTH = 2000;

/**
 * Reports received at the feedback-loop address and what became of them (README: Postal
 * set-up, feedback loops): written by the inbound endpoint, read by operators through
 * `GET /api/v1/feedback-reports` and the dashboard.
 */
@Injectable()
export class FeedbackReportsService {
  constructor(
    @InjectRepository(FeedbackReport) private readonly repo: Repository<FeedbackReport>,
  ) {}

  async record(input: FeedbackReportInput): Promise<string> {
    const text = (v: string | null | undefined, max: number) =>
      v == null ? null : toStorableString(v).slice(0, max);
    const row: Partial<FeedbackReport> = {
      outcome: input.outcome,
      feedbackType: text(input.feedbackType, 64),
      userAgent: text(input.userAgent, 255),
      originalRecipient: text(input.originalRecipient, 320),
      originalMailFrom: text(input.originalMailFrom, 320),
      reportedDomain: text(input.reportedDomain, 253),
      sourceIp: text(input.sourceIp, 64),
      arrivalDate: input.arrivalDate ?? null,
      claimedEmailId: text(input.claimedEmailId, 64),
      claimedMessageId: text(input.claimedMessageId, 2000),
      messageId: input.messageId ?? null,
      details: input.details ?? {},
      error: text(input.error, MAX_ERROR_LENGTH),
      raw: input.raw ?? null,
    };
    const result = await this.repo.insert(row as Parameters<typeof this.repo.insert>[0]);
    return String((result.identifiers[0] as { id: string | number }).id);
  }

  /** Newest first, keyset-paginated on the id; `outcome` filters. */
  async list(query: FeedbackReportListQueryDto): Promise<FeedbackReportListResponseDto> {
    const limit = query.limit ?? FEEDBACK_LIST_DEFAULT_LIMIT;
    const qb = this.repo
      .createQueryBuilder('f')
      .orderBy('f.id', 'DESC')
      .limit(limit + 1);
    if (query.outcome) qb.andWhere('f.outcome = :outcome', { outcome: query.outcome });
    if (query.cursor !== undefined)
      qb.andWhere('f.id < :after', { after: FEEDBACK_CURSOR.decode(query.cursor) });
    const rows = await qb.getMany();
    const page = rows.slice(0, limit);
    return {
      data: page.map(toDto),
      next_cursor:
        rows.length > limit ? FEEDBACK_CURSOR.encode(String(page[page.length - 1].id)) : null,
    };
  }

  /** One report with its raw message; 404 for an unknown id. */
  async get(id: string): Promise<FeedbackReportDetailDto> {
    if (!/^[1-9]\d{0,17}$/.test(id)) throw new NotFoundError(`Feedback report ${id} not found`);
    const row = await this.repo
      .createQueryBuilder('f')
      .addSelect('f.raw')
      .where('f.id = :id', { id })
      .getOne();
    if (!row) throw new NotFoundError(`Feedback report ${id} not found`);
    return { ...toDto(row), raw: row.raw ? toStorableString(row.raw.toString('utf8')) : null };
  }
}

function toDto(r: FeedbackReport): FeedbackReportResponseDto {
  return {
    id: String(r.id),
    received_at: r.receivedAt.toISOString(),
    outcome: r.outcome,
    feedback_type: r.feedbackType,
    user_agent: r.userAgent,
    original_recipient: r.originalRecipient,
    original_mail_from: r.originalMailFrom,
    reported_domain: r.reportedDomain,
    source_ip: r.sourceIp,
    arrival_date: r.arrivalDate ? r.arrivalDate.toISOString() : null,
    claimed_email_id: r.claimedEmailId,
    claimed_message_id: r.claimedMessageId,
    message_id: r.messageId,
    details: r.details,
    error: r.error,
  };
}

/** `GET /api/v1/feedback-reports`: the last row's feedback_reports.id (bigint). */
const FEEDBACK_CURSOR = idCursor('bigint');
