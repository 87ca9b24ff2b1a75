import 'tsconfig-paths/register';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from 'src/data-source';
import { TEMPLATE_DB, urlForDatabase, withAdmin } from 'test/utils/test-db';

/**
 * Builds the migrated template database once (per set of migrations); each test file clones
 * it with CREATE DATABASE … TEMPLATE, much faster than migrating per file. Built under a
 * temporary name and renamed, so concurrent runs never clone a half-migrated template.
 */
export default async function globalSetup(): Promise<void> {
  const exists = await withAdmin(async (c) => {
    const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE_DB]);
    return r.rowCount === 1;
  });
  if (exists) return;
  const building = `email_sender_test_build_${randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${building}"`));
  const ds = new DataSource(
    buildDataSourceOptions({ databaseUrl: urlForDatabase(building), dbPoolSize: 2 }),
  );
  await ds.initialize();
  try {
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
  await withAdmin(async (c) => {
    try {
      await c.query(`ALTER DATABASE "${building}" RENAME TO "${TEMPLATE_DB}"`);
    } catch {
      // Another run finished first: keep theirs.
      await c.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
    }
  });
}
