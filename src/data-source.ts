import 'reflect-metadata';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig, loadConfigFromProcess } from 'src/config/app-config';

/**
 * The one TypeORM configuration, used by the app, the CLI and `typeorm` itself
 * (`npm run migration:*` points the TypeORM CLI at the compiled copy of this file).
 */
export function buildDataSourceOptions(
  config: Pick<AppConfig, 'databaseUrl' | 'dbPoolSize'>,
): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.databaseUrl,
    entities: [join(__dirname, 'modules', '**', '*.entity.{ts,js}')],
    migrations: [join(__dirname, '..', 'migrations', '*.{ts,js}')],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error'],
    extra: {
      max: config.dbPoolSize,
      connectionTimeoutMillis: 5000,
      // Fail fast instead of hanging a request when PostgreSQL is gone.
      query_timeout: 30000,
      application_name: 'email-sender',
    },
  };
}

export function createDataSource(
  config: Pick<AppConfig, 'databaseUrl' | 'dbPoolSize'>,
): DataSource {
  return new DataSource(buildDataSourceOptions(config));
}

// Default export for the TypeORM CLI only; the app builds its own from the injected config.
const cliDataSource = process.env.TYPEORM_CLI
  ? createDataSource(loadConfigFromProcess())
  : undefined;
export default cliDataSource;
