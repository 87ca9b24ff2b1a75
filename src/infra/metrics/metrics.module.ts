import { Global, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { MetricsAuthMiddleware } from 'src/infra/metrics/metrics-auth.middleware';
import { MetricsController } from 'src/infra/metrics/metrics.controller';
import { MetricsService } from 'src/infra/metrics/metrics.service';

@Global()
@Module({
  providers: [MetricsService],
  controllers: [MetricsController],
  exports: [MetricsService],
})
export class MetricsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(MetricsAuthMiddleware).forRoutes(MetricsController);
  }
}
