import { STREAMS, type Stream } from 'src/common/streams';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import {
  HOSTNAME_MESSAGE,
  HOSTNAME_PATTERN,
  NormalizeDomain,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';

/** Every dashboard form posts its CSRF token (checked by DashboardCsrfGuard before this). */
export class DashboardFormDto {
  @IsString()
  _csrf: string;
}

/** Where a report action sends the browser back to. */
export const REPORT_BACK = ['overview', 'report'] as const;

export class ReportActionFormDto extends DashboardFormDto {
  @IsOptional()
  @IsIn(REPORT_BACK)
  back?: (typeof REPORT_BACK)[number];
}

export class ReportResolveFormDto extends ReportActionFormDto {
  @IsOptional()
  @IsString()
  @MaxLength(5000)
  notes?: string;
}

export class DomainFormDto extends DashboardFormDto {
  @NormalizeDomain()
  @Matches(HOSTNAME_PATTERN, { message: HOSTNAME_MESSAGE })
  domain: string;
}

/** Pause or resume the sending of one stream (README "Streams"). */
export class StreamFormDto extends DashboardFormDto {
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream: Stream;
}
