import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { STREAMS_SQL, type Stream } from 'src/common/streams';

@Entity('email_templates')
@Unique('uq_email_templates_external_id', ['externalId'])
@Check('email_templates_stream_check', `stream IN (${STREAMS_SQL})`)
export class EmailTemplate {
  @PrimaryGeneratedColumn('identity', {
    generatedIdentity: 'BY DEFAULT',
    primaryKeyConstraintName: 'pk_email_templates',
  })
  id: number;

  /** The id API clients use (`template_id` in requests). */
  @Column({ name: 'external_id', type: 'varchar', length: 64 })
  externalId: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  /** Handlebars source. */
  @Column({ type: 'text' })
  subject: string;

  @Column({ name: 'html_content', type: 'text', nullable: true })
  htmlContent: string | null;

  @Column({ name: 'plain_content', type: 'text', nullable: true })
  plainContent: string | null;

  /** The stream its messages default to; null: the endpoint's default (README "Streams"). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  stream: Stream | null;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  variables: unknown[];

  @Index('idx_email_templates_active')
  @Column({ type: 'boolean', default: true })
  active: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
