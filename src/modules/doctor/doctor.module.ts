import { DynamicModule, Module } from '@nestjs/common';
import { PostalModule } from 'src/infra/postal/postal.module';
import { DoctorService } from 'src/modules/doctor/doctor.service';
import { DomainsModule } from 'src/modules/domains/domains.module';

/**
 * "Is my set-up right?" (README): DoctorService, shared by `npm run cli -- doctor` and the
 * dashboard's Set-up page. `domains: false` when PostgreSQL is out of reach (the CLI then
 * reports the sending domains as not checked instead of failing to start).
 */
@Module({})
export class DoctorModule {
  static register(options: { domains: boolean } = { domains: true }): DynamicModule {
    return {
      module: DoctorModule,
      imports: [PostalModule, ...(options.domains ? [DomainsModule] : [])],
      providers: [DoctorService],
      exports: [DoctorService],
    };
  }
}
