import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The reads of GET /api/v1/stats over hourly_stats, which now holds each hour three times (all
 * streams and each stream, README "Streams"). The unique (hour, stream, domain) index alone
 * made every read walk all of a window's rows: three times what it walked before streams.
 * - the series (global rows of every stream level): (hour) WHERE domain IS NULL;
 * - the top domains of one stream level: (stream, hour) WHERE domain IS NOT NULL;
 * - one domain's series: (domain, hour).
 */
export class HourlyStatsReadIndexes1796611300000 implements MigrationInterface {
  name = 'HourlyStatsReadIndexes1796611300000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX idx_hourly_stats_global ON hourly_stats (hour) WHERE domain IS NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX idx_hourly_stats_stream_domains ON hourly_stats (stream, hour)
         WHERE domain IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX idx_hourly_stats_domain_hour ON hourly_stats (domain, hour)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX idx_hourly_stats_domain_hour`);
    await queryRunner.query(`DROP INDEX idx_hourly_stats_stream_domains`);
    await queryRunner.query(`DROP INDEX idx_hourly_stats_global`);
  }
}
