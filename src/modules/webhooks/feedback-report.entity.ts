import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * What became of a report received at the feedback-loop address (README: Postal set-up,
 * feedback loops). Only `complained` and `unsubscribed` changed a message or the suppression
 * list; every other outcome is kept for an operator to review.
 */
export const FEEDBACK_OUTCOMES = [
  'complained',
  'already_complained',
  'unsubscribed',
  'not_spam',
  'auth_failure',
  'unmatched',
  'recipient_mismatch',
  'ignored',
  'unreadable',
] as const;
export type FeedbackOutcome = (typeof FEEDBACK_OUTCOMES)[number];

const sqlList = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');

@Entity('feedback_reports')
@Check('feedback_reports_outcome_check', `outcome IN (${sqlList(FEEDBACK_OUTCOMES)})`)
@Index('idx_feedback_reports_outcome', ['outcome', 'id'])
export class FeedbackReport {
  /** bigint: pg returns it as a string. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_feedback_reports',
  })
  id: string;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt: Date;

  @Column({ type: 'varchar', length: 32 })
  outcome: FeedbackOutcome;

  @Column({ name: 'feedback_type', type: 'varchar', length: 64, nullable: true })
  feedbackType: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 255, nullable: true })
  userAgent: string | null;

  @Column({ name: 'original_recipient', type: 'varchar', length: 320, nullable: true })
  originalRecipient: string | null;

  @Column({ name: 'original_mail_from', type: 'varchar', length: 320, nullable: true })
  originalMailFrom: string | null;

  @Column({ name: 'reported_domain', type: 'varchar', length: 253, nullable: true })
  reportedDomain: string | null;

  @Column({ name: 'source_ip', type: 'varchar', length: 64, nullable: true })
  sourceIp: string | null;

  @Column({ name: 'arrival_date', type: 'timestamptz', nullable: true })
  arrivalDate: Date | null;

  /** The X-Email-Id the report's original carries (not necessarily one of ours). */
  @Column({ name: 'claimed_email_id', type: 'varchar', length: 64, nullable: true })
  claimedEmailId: string | null;

  /** The original's Message-ID (or Postal token) as the report gives it. */
  @Column({ name: 'claimed_message_id', type: 'text', nullable: true })
  claimedMessageId: string | null;

  /** Our message the report matched (its recipient may still differ: recipient_mismatch). */
  @Column({ name: 'message_id', type: 'uuid', nullable: true })
  messageId: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, unknown>;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'bytea', nullable: true, select: false })
  raw: Buffer | null;
}
