import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { CliModule } from 'src/cli/cli.module';
import { ConfigError, loadConfigFromProcess } from 'src/config/app-config';
import { ensureDatabase, runMigrations, StartupError } from 'src/startup';

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  await ensureDatabase(config.databaseUrl);
  // Every command but `migrate` needs the schema; `migrate` reports what it applied itself.
  if (process.argv[2] !== 'migrate') await runMigrations(config);
  await CommandFactory.run(CliModule.forRoot(config), {
    logger: ['error', 'warn'],
    cliName: 'npm run cli --',
    errorHandler: (err) => {
      // commander's own exits (help, version, usage errors) carry an exit code.
      const code = (err as { exitCode?: number }).exitCode;
      if (code !== undefined) process.exit(code);
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(1);
    },
    serviceErrorHandler: (err) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(1);
    },
  });
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof StartupError;
  process.stderr.write(
    `error: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`,
  );
  process.exit(1);
});
