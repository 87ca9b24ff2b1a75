import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

/** Server-level connection (no database); trust auth on the local server. */
export const PG_ADMIN_URL =
  process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The migrated template's name carries a hash of the migrations, so concurrent jest runs
 * share one template and a changed migration gets a new one.
 */
export const TEMPLATE_DB = (() => {
  const dir = join(__dirname, '..', '..', 'migrations');
  const hash = createHash('sha256');
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.ts'))
    .sort()) {
    hash.update(f).update(readFileSync(join(dir, f)));
  }
  return `email_sender_test_tpl_${hash.digest('hex').slice(0, 12)}`;
})();

export function urlForDatabase(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export function assertTestDatabaseName(name: string): void {
  if (!name.includes('test')) {
    throw new Error(`Refusing to run tests against database "${name}": its name lacks "test"`);
  }
}

export async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template (see global-setup.ts). */
export async function createTestDatabase(
  opts: { template?: string | null } = {},
): Promise<TestDatabase> {
  const name = `email_sender_test_${randomBytes(5).toString('hex')}`;
  assertTestDatabaseName(name);
  const template = opts.template === undefined ? TEMPLATE_DB : opts.template;
  await withAdmin((c) =>
    c.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`),
  );
  return {
    name,
    url: urlForDatabase(name),
    drop: () =>
      withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

export async function dropDatabase(name: string): Promise<void> {
  assertTestDatabaseName(name);
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/** A Redis key prefix unique to one test file. */
export function testRedisPrefix(): string {
  return `test-${randomBytes(4).toString('hex')}`;
}
