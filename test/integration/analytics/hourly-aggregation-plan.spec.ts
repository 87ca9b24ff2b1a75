import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import {
  campaignHourlyCountsSql,
  GLOBAL_COUNTS_SQL,
  HourlyStatsRepository,
  TOP_DOMAIN_COUNTS_SQL,
} from 'src/modules/analytics/hourly-stats.repository';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

jest.setTimeout(180_000);

const HOUR_MS = 3600_000;
const HOURS = 200;
const LOGS = 50_000;
/** The first generated hour. */
const BASE = new Date('2026-03-01T00:00:00.000Z');

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** EXPLAIN's scans of email_events must be index scans, never a Seq Scan. */
describe(`${HourlyStatsRepository.name} query plans`, () => {
  let db: TestDatabase;
  let ds: DataSource;

  const explain = async (sql: string, params: unknown[]): Promise<PlanNode[]> => {
    const [row]: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }> = await ds.query(
      `EXPLAIN (FORMAT JSON) ${sql}`,
      params,
    );
    return nodes(row['QUERY PLAN'][0].Plan);
  };
  const scansOf = (plan: PlanNode[], table: string) =>
    plan.filter((n) => n['Relation Name'] === table);

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 2 }));
    await ds.initialize();
    // 50,000 messages over 200 hours and 4 events each: 200,000 events, 1,000 per hour.
    await ds.query(
      `INSERT INTO email_logs (recipient, status, campaign_id, created_at)
       SELECT 'u' || g || '@d' || (g % 40) || '.test', 'delivered', 'camp-' || (g % 500),
              $1::timestamptz + (g % $2) * interval '1 hour' + (g % 3000) * interval '1 second'
         FROM generate_series(1, $3) g`,
      [BASE, HOURS, LOGS],
    );
    await ds.query(
      `INSERT INTO email_events (email_log_id, event_type, details, occurred_at)
       SELECT l.id, t.type, t.details::jsonb, l.created_at + t.after
         FROM email_logs l
         CROSS JOIN (VALUES ('queued', '{}', interval '0 s'), ('sent', '{}', interval '1 s'),
                            ('delivered', '{}', interval '20 s'),
                            ('bounced', '{"bounce_type":"soft"}', interval '30 s')) AS t(type, details, after)`,
    );
    await ds.query(`ANALYZE email_logs`);
    await ds.query(`ANALYZE email_events`);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const hour = new Date(BASE.getTime() + 100 * HOUR_MS);
  const end = new Date(hour.getTime() + HOUR_MS);

  it('has the generated volume', async () => {
    await expect(ds.query(`SELECT count(*)::int AS n FROM email_events`)).resolves.toEqual([
      { n: 200_000 },
    ]);
  });

  it('reads the hour of the global level through idx_email_events_type_occurred_at', async () => {
    const plan = await explain(GLOBAL_COUNTS_SQL, [hour, end]);

    const scans = scansOf(plan, 'email_events');
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(plan.map((n) => n['Index Name'])).toContain('idx_email_events_type_occurred_at');
  });

  it('reads the hour of the domain level through the same index', async () => {
    const plan = await explain(TOP_DOMAIN_COUNTS_SQL, [hour, end, 10]);

    expect(scansOf(plan, 'email_events').map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(plan.map((n) => n['Index Name'])).toContain('idx_email_events_type_occurred_at');
  });

  it("finds a campaign's messages through idx_logs_campaign_id", async () => {
    const from = new Date(BASE.getTime() - HOUR_MS);
    const to = new Date(BASE.getTime() + (HOURS + 1) * HOUR_MS);
    const plan = await explain(campaignHourlyCountsSql(false), [from, to, 'camp-7']);

    expect(scansOf(plan, 'email_events').map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(scansOf(plan, 'email_logs').map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(plan.map((n) => n['Index Name'])).toContain('idx_logs_campaign_id');
  });
});
