import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Running totals per campaign. */
@Entity('campaign_stats')
export class CampaignStat {
  @PrimaryColumn({
    name: 'campaign_id',
    type: 'varchar',
    length: 255,
    primaryKeyConstraintName: 'pk_campaign_stats',
  })
  campaignId: string;

  @Column({ name: 'total_sent', type: 'integer', default: 0 })
  totalSent: number;

  @Column({ name: 'total_delivered', type: 'integer', default: 0 })
  totalDelivered: number;

  @Column({ name: 'total_bounced', type: 'integer', default: 0 })
  totalBounced: number;

  @Column({ name: 'total_complained', type: 'integer', default: 0 })
  totalComplained: number;

  @Column({ name: 'total_opened', type: 'integer', default: 0 })
  totalOpened: number;

  @Column({ name: 'total_clicked', type: 'integer', default: 0 })
  totalClicked: number;

  @Column({ name: 'total_unsubscribed', type: 'integer', default: 0 })
  totalUnsubscribed: number;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
