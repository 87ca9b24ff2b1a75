import { Command, CommandRunner } from 'nest-commander';
import { AppConfig } from 'src/config/app-config';
import { runMigrations } from 'src/startup';

@Command({
  name: 'migrate',
  description: 'Run pending database migrations (under an advisory lock)',
})
export class MigrateCommand extends CommandRunner {
  constructor(private readonly config: AppConfig) {
    super();
  }

  async run(): Promise<void> {
    const applied = await runMigrations(this.config);
    process.stdout.write(
      applied.length ? `Applied: ${applied.join(', ')}\n` : 'No pending migrations.\n',
    );
  }
}
