import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { StatsQueryDto } from 'src/modules/analytics/dto/stats-query.dto';
import { StatsResponseDto } from 'src/modules/analytics/dto/stats-response.dto';
import { StatsService } from 'src/modules/analytics/stats.service';

/** Statistics (README "Management"); scope `full` only. */
@ApiTags('stats')
@ApiBearerAuth()
@Controller('api/v1/stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get()
  @ApiOperation({
    operationId: 'getStats',
    summary: 'Sending statistics of a window: totals, rates, series, domains, top errors',
    description:
      'Full past hours come from hourly_stats, the current hour is computed live. With ' +
      '`campaign_id` everything is computed from the campaign’s events. With `domain`, only ' +
      'the hours in which that domain was among the top 10 are stored, plus the live hour.',
  })
  @ApiOkResponse({ type: StatsResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  get(@Query() query: StatsQueryDto): Promise<StatsResponseDto> {
    return this.stats.getStats(query);
  }
}
