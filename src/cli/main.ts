import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { CliModule } from 'src/cli/cli.module';
import { DoctorCliModule } from 'src/cli/doctor-cli.module';
import { ConfigError, loadConfigFromProcess } from 'src/config/app-config';
import { ensureDatabase, probePostgres, runMigrations, StartupError } from 'src/startup';

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const command = process.argv[2];
  let root;
  if (command === 'doctor') {
    // The doctor reports what is missing instead of creating or migrating anything.
    const database = await probePostgres(config.databaseUrl).then(
      () => true,
      () => false,
    );
    root = DoctorCliModule.forRoot(config, { database });
  } else {
    await ensureDatabase(config.databaseUrl);
    // Every command but `migrate` needs the schema; `migrate` reports what it applied itself.
    if (command !== 'migrate') await runMigrations(config);
    root = CliModule.forRoot(config);
  }
  await CommandFactory.run(root, {
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
