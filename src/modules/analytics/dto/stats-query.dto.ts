import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { STREAMS, type Stream } from 'src/common/streams';
import {
  HOSTNAME_MESSAGE,
  HOSTNAME_PATTERN,
  NormalizeDomain,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';

export const STATS_GRANULARITIES = ['hour', 'day'] as const;
export type StatsGranularity = (typeof STATS_GRANULARITIES)[number];

/** A date, or a date-time with its zone: a bare local time would depend on the server's zone. */
const DATE_OR_ZONED_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?))?$/;

const timeMessage = (field: string): string =>
  `${field} must be an ISO 8601 date or date-time with a zone, e.g. 2026-01-31T13:00:00Z`;

/** A time bound: calendar-valid ISO 8601 and zoned (when it has a time part). */
const IsTimeBound =
  (field: string): PropertyDecorator =>
  (target, key) => {
    IsOptional()(target, key);
    IsISO8601({ strict: true }, { message: timeMessage(field) })(target, key);
    Matches(DATE_OR_ZONED_DATE_TIME, { message: timeMessage(field) })(target, key);
  };

/** `GET /api/v1/stats` query (README "Management"). */
export class StatsQueryDto {
  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Start (inclusive), rounded down to the hour; default: 24 hours before `to`',
    example: '2026-01-30T00:00:00Z',
  })
  @IsTimeBound('from')
  from?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description:
      'End (exclusive), rounded up to the hour; default: the end of the current hour. At most 400 days after `from`',
    example: '2026-01-31T00:00:00Z',
  })
  @IsTimeBound('to')
  to?: string;

  @ApiPropertyOptional({ description: 'Only this recipient domain', example: 'gmail.com' })
  @IsOptional()
  @NormalizeDomain()
  @Matches(HOSTNAME_PATTERN, { message: HOSTNAME_MESSAGE })
  domain?: string;

  @ApiPropertyOptional({ description: 'Only this campaign', example: 'spring-2026' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @Length(1, 255, { message: 'campaign_id must be 1 to 255 characters' })
  campaign_id?: string;

  @ApiPropertyOptional({
    enum: STREAMS,
    description:
      'Only this message stream (README "Streams"); default: all streams. Hours aggregated before streams were counted apart have no per-stream numbers',
    example: 'broadcast',
  })
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream?: Stream;

  @ApiPropertyOptional({ enum: STATS_GRANULARITIES, default: 'hour' })
  @IsOptional()
  @IsIn(STATS_GRANULARITIES, { message: 'granularity must be hour or day' })
  granularity?: StatsGranularity;
}
