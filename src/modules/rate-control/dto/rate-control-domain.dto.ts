import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Matches } from 'class-validator';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';

/** A hostname: dot-separated labels of letters, digits and inner hyphens, ≤ 253 chars. */
export const HOSTNAME_PATTERN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

export const HOSTNAME_MESSAGE =
  'domain must be a hostname (letters, digits, dots and hyphens, at most 253 characters)';

/** Domains are keyed lower-cased and trimmed. */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase();
}

export function isHostname(value: unknown): value is string {
  return typeof value === 'string' && HOSTNAME_PATTERN.test(value);
}

/** Lower-cases strings before validation; leaves other types for the validators to reject. */
export const NormalizeDomain = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? normalizeDomain(value) : value,
  );

/** The `:domain` route parameter. */
export class RateControlDomainParamDto {
  @ApiProperty({ example: 'gmail.com' })
  @NormalizeDomain()
  @Matches(HOSTNAME_PATTERN, { message: HOSTNAME_MESSAGE })
  domain: string;
}
