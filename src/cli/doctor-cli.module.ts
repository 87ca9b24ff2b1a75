import { DynamicModule, Module } from '@nestjs/common';
import { DoctorCommand } from 'src/cli/commands/doctor.command';
import { AppConfig } from 'src/config/app-config';
import { ConfigModule } from 'src/config/config.module';
import { DatabaseModule } from 'src/infra/database/database.module';
import { DoctorModule } from 'src/modules/doctor/doctor.module';

/**
 * `npm run cli -- doctor` (README "Is my set-up right?") on its own, smaller module graph: it
 * must report a missing PostgreSQL, Redis or schema rather than need them to start. Without a
 * reachable database (`database: false`) the sending domains are reported as not checked.
 */
@Module({})
export class DoctorCliModule {
  static forRoot(config: AppConfig, options: { database: boolean }): DynamicModule {
    return {
      module: DoctorCliModule,
      imports: [
        ConfigModule.forRoot(config),
        ...(options.database ? [DatabaseModule] : []),
        DoctorModule.register({ domains: options.database }),
      ],
      providers: [DoctorCommand],
    };
  }
}
