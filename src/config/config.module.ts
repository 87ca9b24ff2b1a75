import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';

/** Provides the one validated AppConfig (built before Nest starts) to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
