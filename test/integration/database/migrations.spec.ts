import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import { API_KEY_SCOPES } from 'src/modules/auth/api-key.entity';
import { BLACKLIST_REASONS } from 'src/modules/blacklist/blacklist-entry.entity';
import {
  DIAGNOSTIC_REPORT_STATUSES,
  DIAGNOSTIC_REPORT_TYPES,
  DIAGNOSTIC_SEVERITIES,
} from 'src/modules/diagnostics/diagnostic-report.entity';
import { HourlyStat } from 'src/modules/analytics/hourly-stat.entity';
import { DOMAIN_STATUSES } from 'src/modules/domains/sending-domain.entity';
import { FEEDBACK_OUTCOMES } from 'src/modules/webhooks/feedback-report.entity';
import { EMAIL_EVENT_TYPES, EmailEvent } from 'src/modules/emails/email-event.entity';
import {
  BOUNCE_TYPES,
  RECIPIENT_ROLES,
  EMAIL_STATUSES,
  EmailLog,
} from 'src/modules/emails/email-log.entity';
import { DELIVERY_STATUSES } from 'src/modules/event-webhooks/outbound-delivery.entity';
import { ENDPOINT_DISABLED_REASONS } from 'src/modules/event-webhooks/webhook-endpoint.entity';
import { createTestDatabase, TestDatabase } from 'test/utils/test-db';

const APP_TABLES = [
  'accept_rejections',
  'api_keys',
  'attachment_blobs',
  'batches',
  'blacklists',
  'campaign_stats',
  'diagnostic_reports',
  'email_events',
  'email_logs',
  'email_templates',
  'feedback_reports',
  'hourly_stats',
  'idempotency_keys',
  'message_attachments',
  'outbound_deliveries',
  'outbound_delivery_attempts',
  'outbound_events',
  'outbox_cursors',
  'sending_domains',
  'webhook_endpoints',
  'webhook_events',
];
/** TypeORM's own bookkeeping, created by the migration runner itself. */
const TYPEORM_TABLES = ['migrations', 'typeorm_metadata'];

describe('InitialSchema1764307200000', () => {
  let db: TestDatabase;
  let dataSource: DataSource;

  const tablesInSchema = async (): Promise<string[]> => {
    const rows: { table_name: string }[] = await dataSource.query(
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
       ORDER BY table_name`,
    );
    return rows.map((r) => r.table_name);
  };

  const pendingSchemaChanges = async (): Promise<string[]> => {
    const { upQueries } = await dataSource.driver.createSchemaBuilder().log();
    return upQueries.map((q) => q.query);
  };

  const insertApiKey = (keyHash: string, active: boolean) =>
    dataSource.query(
      `INSERT INTO api_keys (name, key_prefix, key_hash, active) VALUES ('test', 'esk_abcd', $1, $2)`,
      [keyHash, active],
    );

  beforeAll(async () => {
    db = await createTestDatabase({ template: null });
    dataSource = new DataSource({
      ...buildDataSourceOptions({ databaseUrl: db.url, dbPoolSize: 2 }),
      // The constraint violations below are expected; failures still reach the assertions.
      logging: false,
    });
    await dataSource.initialize();
    await dataSource.runMigrations({ transaction: 'each' });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('creates every table of the data model', async () => {
    expect(await tablesInSchema()).toEqual([...APP_TABLES, ...TYPEORM_TABLES].sort());
  });

  it('leaves nothing for TypeORM to change: the entities describe the migrated schema', async () => {
    expect(await pendingSchemaChanges()).toEqual([]);
  });

  // TypeORM matches check constraints by name only, so it cannot notice a value list drifting.
  it.each([
    ['api_keys_scope_check', API_KEY_SCOPES],
    ['email_logs_status_check', EMAIL_STATUSES],
    ['email_logs_bounce_type_check', BOUNCE_TYPES],
    ['email_logs_recipient_role_check', RECIPIENT_ROLES],
    ['email_events_event_type_check', EMAIL_EVENT_TYPES],
    ['blacklists_reason_check', BLACKLIST_REASONS],
    ['diagnostic_reports_report_type_check', DIAGNOSTIC_REPORT_TYPES],
    ['diagnostic_reports_severity_check', DIAGNOSTIC_SEVERITIES],
    ['diagnostic_reports_status_check', DIAGNOSTIC_REPORT_STATUSES],
    ['feedback_reports_outcome_check', FEEDBACK_OUTCOMES],
    ['sending_domains_status_check', DOMAIN_STATUSES],
    ['outbound_deliveries_status_check', DELIVERY_STATUSES],
    ['webhook_endpoints_disabled_reason_check', ENDPOINT_DISABLED_REASONS],
  ])('%s allows exactly the values the entity exports', async (name, values) => {
    const [check] = await dataSource.query(
      `SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
       JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE c.contype = 'c' AND c.conname = $1 AND n.nspname = current_schema()`,
      [name],
    );
    const allowed = [...(check.def as string).matchAll(/'([^']*)'::character varying/g)].map(
      (m) => m[1],
    );
    expect(allowed).toEqual([...values]);
  });

  describe('api_keys', () => {
    it('has only the partial unique index idx_api_keys_active_unique on key_hash', async () => {
      const uniqueIndexes = await dataSource.query(
        `SELECT i.relname AS name, pg_get_expr(ix.indpred, ix.indrelid) AS predicate
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ANY (ix.indkey)
         WHERE ix.indrelid = 'api_keys'::regclass AND ix.indisunique AND a.attname = 'key_hash'`,
      );
      expect(uniqueIndexes).toEqual([
        { name: 'idx_api_keys_active_unique', predicate: '(active = true)' },
      ]);
    });

    it('rejects a second active key with the same hash but accepts an inactive duplicate', async () => {
      const hash = 'a'.repeat(64);
      await insertApiKey(hash, true);

      await expect(insertApiKey(hash, true)).rejects.toMatchObject({
        code: '23505',
        constraint: 'idx_api_keys_active_unique',
      });
      await expect(insertApiKey(hash, false)).resolves.toBeDefined();
    });
  });

  describe('email_logs', () => {
    it('rejects a bounce type other than hard or soft', async () => {
      await expect(
        dataSource.query(
          `INSERT INTO email_logs (recipient, bounce_type) VALUES ('a@example.com', 'medium')`,
        ),
      ).rejects.toMatchObject({ code: '23514', constraint: 'email_logs_bounce_type_check' });
    });

    it('rejects an unknown status', async () => {
      await expect(
        dataSource.query(
          `INSERT INTO email_logs (recipient, status) VALUES ('a@example.com', 'teleported')`,
        ),
      ).rejects.toMatchObject({ code: '23514', constraint: 'email_logs_status_check' });
    });

    it('fills recipient_domain, lower-cased, on inserts that do not mention it', async () => {
      const [single] = await dataSource.query(
        `INSERT INTO email_logs (recipient) VALUES ('Someone@Mail.Example.COM')
         RETURNING recipient_domain, status, external_message_id`,
      );
      expect(single).toMatchObject({ recipient_domain: 'mail.example.com', status: 'queued' });
      expect(single.external_message_id).toMatch(/^[0-9a-f-]{36}$/);

      const setBased = await dataSource.query(
        `INSERT INTO email_logs (recipient)
         SELECT 'user' || n || '@Domain' || n || '.TEST' FROM generate_series(1, 3) AS n
         RETURNING recipient_domain`,
      );
      expect(setBased.map((r: { recipient_domain: string }) => r.recipient_domain)).toEqual([
        'domain1.test',
        'domain2.test',
        'domain3.test',
      ]);
    });
  });

  describe('entities', () => {
    it('saves an email log and its event through TypeORM and reads back database-made values', async () => {
      const log = await dataSource
        .getRepository(EmailLog)
        .save({ recipient: 'Reader@Example.ORG', statusDetails: { variables: { name: 'Ann' } } });
      await dataSource.getRepository(EmailEvent).save({ emailLogId: log.id, eventType: 'queued' });

      const saved = await dataSource.getRepository(EmailLog).findOneByOrFail({ id: log.id });
      expect(saved).toMatchObject({
        recipientDomain: 'example.org',
        status: 'queued',
        retryCount: 0,
        statusDetails: { variables: { name: 'Ann' } },
      });
      expect(typeof saved.id).toBe('string');
      expect(saved.externalMessageId).toMatch(/^[0-9a-f-]{36}$/);
      await expect(
        dataSource.getRepository(EmailEvent).countBy({ emailLogId: log.id }),
      ).resolves.toBe(1);
    });

    it('reads hourly rates back as numbers', async () => {
      const repo = dataSource.getRepository(HourlyStat);
      const { id } = await repo.save({
        hour: new Date('2026-01-02T00:00:00Z'),
        domain: 'example.org',
        deliveryRate: 97.25,
        complaintRate: 0.0125,
      });

      await expect(repo.findOneByOrFail({ id })).resolves.toMatchObject({
        deliveryRate: 97.25,
        bounceRate: 0,
        complaintRate: 0.0125,
      });
    });
  });

  describe('hourly_stats', () => {
    const insertStat = (hour: string, domain: string | null) =>
      dataSource.query(`INSERT INTO hourly_stats (hour, domain) VALUES ($1, $2)`, [hour, domain]);

    it('allows one global row (domain NULL) per hour: NULLs are not distinct', async () => {
      const hour = '2026-01-01T10:00:00Z';
      await insertStat(hour, null);

      await expect(insertStat(hour, null)).rejects.toMatchObject({
        code: '23505',
        constraint: 'idx_hourly_stats_hour_stream_domain',
      });
    });

    it('allows one row per domain in the same hour', async () => {
      const hour = '2026-01-01T11:00:00Z';
      await insertStat(hour, null);
      await insertStat(hour, 'gmail.com');
      await expect(insertStat(hour, 'yahoo.com')).resolves.toBeDefined();

      await expect(insertStat(hour, 'gmail.com')).rejects.toMatchObject({ code: '23505' });
    });
  });

  it('reverts everything and migrates again (up, down, up)', async () => {
    const all = dataSource.migrations.map((m) => m.name);
    // Undo every migration, newest first.
    for (let i = 0; i < all.length; i++)
      await dataSource.undoLastMigration({ transaction: 'each' });

    expect(await tablesInSchema()).toEqual(TYPEORM_TABLES);
    await expect(
      dataSource.query(`SELECT * FROM typeorm_metadata WHERE "table" = 'email_logs'`),
    ).resolves.toEqual([]);

    const migrated = await dataSource.runMigrations({ transaction: 'each' });

    expect(migrated.map((m) => m.name)).toEqual([
      'InitialSchema1764307200000',
      'EventRecipientDomain1764400000000',
      'FeedbackReports1764460000000',
      'TransitionOutbox1764500000000',
      'MessageStreams1765000000000',
      'StreamsScopesCancel1796610459147',
      'MessageRecipientsAttachments1796610486585',
      'EventWebhooks1796610522694',
      'InternalTransitionEvents1796610585746',
      'SendingDomains1796610927533',
      'StatsByStream1796611100000',
      'OutboundDeliveryAttempts1796611200000',
      'HourlyStatsReadIndexes1796611300000',
    ]);
    expect(await tablesInSchema()).toEqual([...APP_TABLES, ...TYPEORM_TABLES].sort());
    expect(await pendingSchemaChanges()).toEqual([]);
  });
});
