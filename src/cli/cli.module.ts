import { DynamicModule, Module } from '@nestjs/common';
import {
  ApiKeysCreateCommand,
  ApiKeysListCommand,
  ApiKeysRevokeCommand,
} from 'src/cli/commands/api-keys.commands';
import { BlacklistImportCommand } from 'src/cli/commands/blacklist-import.command';
import { JobsRunCommand } from 'src/cli/commands/jobs-run.command';
import { MigrateCommand } from 'src/cli/commands/migrate.command';
import { AppConfig } from 'src/config/app-config';
import { ConfigModule } from 'src/config/config.module';
import { DatabaseModule } from 'src/infra/database/database.module';
import { QueueModule } from 'src/infra/queue/queue.module';
import { MetricsModule } from 'src/infra/metrics/metrics.module';
import { RedisModule } from 'src/infra/redis/redis.module';
import { AnalyticsModule } from 'src/modules/analytics/analytics.module';
import { AuthModule } from 'src/modules/auth/auth.module';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';
import { EmailsModule } from 'src/modules/emails/emails.module';

/** The operator CLI (`npm run cli -- <command>`), README "Operator CLI". */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        RedisModule,
        AuthModule,
        BlacklistModule,
        QueueModule,
        MetricsModule,
        EmailsModule,
        AnalyticsModule,
        DiagnosticsModule,
      ],
      providers: [
        MigrateCommand,
        ApiKeysCreateCommand,
        ApiKeysListCommand,
        ApiKeysRevokeCommand,
        BlacklistImportCommand,
        JobsRunCommand,
      ],
    };
  }
}
