import { DynamicModule, Module } from '@nestjs/common';
import {
  ApiKeysCreateCommand,
  ApiKeysListCommand,
  ApiKeysRevokeCommand,
} from 'src/cli/commands/api-keys.commands';
import { BlacklistImportCommand } from 'src/cli/commands/blacklist-import.command';
import { MigrateCommand } from 'src/cli/commands/migrate.command';
import { AppConfig } from 'src/config/app-config';
import { ConfigModule } from 'src/config/config.module';
import { DatabaseModule } from 'src/infra/database/database.module';
import { RedisModule } from 'src/infra/redis/redis.module';
import { AuthModule } from 'src/modules/auth/auth.module';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';

/** The operator CLI (`npm run cli -- <command>`), SPEC §13. */
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
      ],
      providers: [
        MigrateCommand,
        ApiKeysCreateCommand,
        ApiKeysListCommand,
        ApiKeysRevokeCommand,
        BlacklistImportCommand,
      ],
    };
  }
}
