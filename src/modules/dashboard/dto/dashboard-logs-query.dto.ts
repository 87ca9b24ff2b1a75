import { Transform, Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import { STREAMS, type Stream } from 'src/common/streams';
import { MESSAGE_STATUSES } from 'src/modules/dashboard/dashboard-format';
import {
  HOSTNAME_MESSAGE,
  HOSTNAME_PATTERN,
  NormalizeDomain,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';

/** A filter form sends empty inputs as `field=`: treat them as absent. Strings are trimmed. */
const Blank = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  });

/**
 * `<input type="datetime-local">` sends `2026-11-28T06:30` (no zone; the form says UTC), and a
 * hand-written URL may hold a date or a full ISO 8601 time with its zone.
 */
const TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The instant a time filter names (zone-less = UTC), or null when it is not a real time. */
export function parseFilterTime(value: string): Date | null {
  const m = TIME.exec(value);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', zone] = m;
  const local = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const check = new Date(local);
  // Reject what Date would silently roll over (Feb 30, 24:00, minute 61).
  if (
    check.getUTCFullYear() !== +y ||
    check.getUTCMonth() !== +mo - 1 ||
    check.getUTCDate() !== +d ||
    check.getUTCHours() !== +h ||
    check.getUTCMinutes() !== +mi ||
    check.getUTCSeconds() !== +s
  ) {
    return null;
  }
  const base = value.slice(0, value.length - (zone?.length ?? 0));
  const offset = zone === undefined ? 'Z' : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const at = Date.parse(`${base.length === 10 ? `${base}T00:00` : base}${offset}`);
  return Number.isNaN(at) ? null : new Date(at);
}

const IsFilterTime = (options?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'isFilterTime',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseFilterTime(value) !== null,
        defaultMessage: (args) =>
          `${args?.property ?? 'time'} must be a date or time such as 2026-11-28T06:30 (UTC) or 2026-11-28T06:30:00+01:00`,
      },
    },
    options,
  );

export const LOGS_PAGE_SIZE = 50;

/** `GET /dashboard/logs` filters; every field optional, anything else is a 400 page. */
export class DashboardLogsQueryDto {
  @Blank()
  @IsOptional()
  @IsIn(MESSAGE_STATUSES, { message: `status must be one of ${MESSAGE_STATUSES.join(', ')}` })
  status?: string;

  @Blank()
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of ${STREAMS.join(', ')}` })
  stream?: Stream;

  @Blank()
  @IsOptional()
  @IsString()
  @MaxLength(320)
  recipient?: string;

  @Blank()
  @IsOptional()
  @IsString()
  @MaxLength(255)
  campaign_id?: string;

  @Blank()
  @IsOptional()
  @NormalizeDomain()
  @Matches(HOSTNAME_PATTERN, { message: HOSTNAME_MESSAGE })
  domain?: string;

  @Blank()
  @IsOptional()
  @IsFilterTime()
  from?: string;

  @Blank()
  @IsOptional()
  @IsFilterTime()
  to?: string;

  @Blank()
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(200)
  limit?: number;

  @Blank()
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'cursor is invalid' })
  cursor?: string;
}

/** `GET /dashboard` query: the stream the figures are filtered by (README "Streams"). */
export class DashboardOverviewQueryDto {
  @Blank()
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of ${STREAMS.join(', ')}` })
  stream?: Stream;

  /** The notice of a redirect after an action (read by noticeText). */
  @IsOptional()
  notice?: unknown;

  @IsOptional()
  subject?: unknown;
}
