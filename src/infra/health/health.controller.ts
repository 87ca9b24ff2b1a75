import { Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthResponseDto, LivenessResponseDto } from 'src/infra/health/health-response.dto';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { Response } from 'express';
import { Public, SkipIpLimit } from 'src/common/decorators/route-policy.decorators';
import { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';
import { RedisService } from 'src/infra/redis/redis.service';

const CHECK_TIMEOUT_MS = 2000;

@ApiTags('health')
@Public()
@SkipIpLimit()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly redis: RedisService,
    private readonly queues: QueueMonitorService,
  ) {}

  @Get(['health', 'api/v1/health'])
  @ApiOperation({
    operationId: 'getHealth',
    summary: 'Readiness: database, Redis and the queues',
  })
  @ApiResponse({ status: 200, description: 'Every part is up', type: HealthResponseDto })
  @ApiResponse({
    status: 503,
    description: 'A part is down (named in error)',
    type: HealthResponseDto,
  })
  async check(@Res({ passthrough: true }) res: Response): Promise<HealthCheckResult> {
    try {
      return await this.health.check([
        () => this.db.pingCheck('database', { timeout: CHECK_TIMEOUT_MS }),
        () =>
          this.indicators
            .check('redis')
            .attempt(async () => {
              await this.redis.ping();
            })
            .withTimeout(CHECK_TIMEOUT_MS),
        () =>
          this.indicators
            .check('queues')
            .attempt(async () => ({ ...(await this.queues.depths()) }))
            .withTimeout(CHECK_TIMEOUT_MS),
      ]);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) {
        res.status(HttpStatus.SERVICE_UNAVAILABLE);
        return err.getResponse() as HealthCheckResult;
      }
      throw err;
    }
  }

  @Get('health/live')
  @ApiOperation({
    operationId: 'getLiveness',
    summary: 'Liveness: the process answers',
  })
  @ApiResponse({ status: 200, type: LivenessResponseDto })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
