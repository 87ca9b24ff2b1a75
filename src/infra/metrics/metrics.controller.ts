import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public, SkipIpLimit } from 'src/common/decorators/route-policy.decorators';
import { MetricsService } from 'src/infra/metrics/metrics.service';

@ApiExcludeController()
@Public()
@SkipIpLimit()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
