import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { RateControlDomainParamDto } from 'src/modules/rate-control/dto/rate-control-domain.dto';
import { RateControlPauseDto } from 'src/modules/rate-control/dto/rate-control-pause.dto';
import {
  DomainRateStateResponseDto,
  RateControlListResponseDto,
  RateControlPauseResponseDto,
} from 'src/modules/rate-control/dto/rate-control-response.dto';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';

@ApiTags('rate-control')
@ApiBearerAuth()
@Controller('api/v1/rate-control')
export class RateControlController {
  constructor(private readonly rates: RateControlService) {}

  @Get()
  @ApiOperation({
    operationId: 'listRateControl',
    summary: 'Domains sending below their configured rate or paused',
  })
  @ApiResponse({ status: 200, type: RateControlListResponseDto })
  @ApiErrorResponses(401, 403, 429, 503)
  list(): Promise<RateControlListResponseDto> {
    return this.rates.list();
  }

  // The fixed paths are declared before `:domain/...` so they are never read as a domain.
  @Post('pause')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'pauseSending',
    summary: 'Pause sending to a domain, of a stream, or all sending without either',
  })
  @ApiResponse({ status: 200, type: RateControlPauseResponseDto })
  @ApiErrorResponses(400, 401, 403, 429, 503)
  async pause(@Body() body: RateControlPauseDto): Promise<RateControlPauseResponseDto> {
    oneTarget(body);
    await this.rates.pause(body.domain, body.stream);
    return { domain: body.domain ?? null, stream: body.stream ?? null, paused: true };
  }

  @Post('resume')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'resumeSending',
    summary: 'Resume sending to a domain, of a stream, or all sending without either',
  })
  @ApiResponse({ status: 200, type: RateControlPauseResponseDto })
  @ApiErrorResponses(400, 401, 403, 429, 503)
  async resume(@Body() body: RateControlPauseDto): Promise<RateControlPauseResponseDto> {
    oneTarget(body);
    await this.rates.resume(body.domain, body.stream);
    return { domain: body.domain ?? null, stream: body.stream ?? null, paused: false };
  }

  @Post(':domain/reset')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'resetDomainRate',
    summary: "Restore a domain's configured rate (factor 1)",
  })
  @ApiResponse({ status: 200, type: DomainRateStateResponseDto })
  @ApiErrorResponses(400, 401, 403, 429, 503)
  async reset(@Param() params: RateControlDomainParamDto): Promise<DomainRateStateResponseDto> {
    await this.rates.resetRate(params.domain);
    return this.rates.getRate(params.domain);
  }
}

/** A pause names a domain or a stream, not both (each has its own flag). */
function oneTarget(body: RateControlPauseDto): void {
  if (body.domain !== undefined && body.stream !== undefined) {
    const message = 'give domain or stream, not both';
    throw new ValidationFailedError(message, [{ field: 'stream', message }]);
  }
}
