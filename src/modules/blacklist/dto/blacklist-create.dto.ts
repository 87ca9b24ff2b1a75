import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { SUPPRESSION_SCOPES, type SuppressionScope } from 'src/common/streams';
import {
  BLACKLIST_REASONS,
  type BlacklistReason,
} from 'src/modules/blacklist/blacklist-entry.entity';

/** Limits shared by the API and `blacklist:import`. */
export const BLACKLIST_EMAIL_MAX_LENGTH = 320;
export const BLACKLIST_SOURCE_MAX_LENGTH = 64;
export const BLACKLIST_DETAILS_MAX_LENGTH = 1000;
export const BLACKLIST_EXPIRES_IN_MIN_S = 60;
/** Ten years of 365 days. */
export const BLACKLIST_EXPIRES_IN_MAX_S = 10 * 365 * 24 * 3600;

/** Trims strings so `" Ann@Example.COM "` validates like the address it is. */
export const trimString = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim() : value;

export class BlacklistCreateDto {
  @ApiProperty({
    example: 'ann@example.com',
    format: 'email',
    maxLength: BLACKLIST_EMAIL_MAX_LENGTH,
  })
  @Transform(trimString)
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(BLACKLIST_EMAIL_MAX_LENGTH)
  email: string;

  @ApiPropertyOptional({ enum: BLACKLIST_REASONS, default: 'manual' })
  @IsOptional()
  @IsIn(BLACKLIST_REASONS, { message: `reason must be one of: ${BLACKLIST_REASONS.join(', ')}` })
  reason?: BlacklistReason;

  @ApiPropertyOptional({
    enum: SUPPRESSION_SCOPES,
    default: 'all',
    description:
      'README "Streams": `all`, or the one stream the entry suppresses (`broadcast`: ' +
      'transactional mail still goes out). Each scope of an address is its own entry',
  })
  @IsOptional()
  @IsIn(SUPPRESSION_SCOPES, { message: `scope must be one of: ${SUPPRESSION_SCOPES.join(', ')}` })
  scope?: SuppressionScope;

  @ApiPropertyOptional({ maxLength: BLACKLIST_DETAILS_MAX_LENGTH, example: 'asked by phone' })
  @IsOptional()
  @IsString()
  @MaxLength(BLACKLIST_DETAILS_MAX_LENGTH)
  details?: string;

  @ApiPropertyOptional({
    type: 'integer',
    example: 86400,
    description: 'Seconds until the entry lapses; omit or null for a permanent entry',
    minimum: BLACKLIST_EXPIRES_IN_MIN_S,
    maximum: BLACKLIST_EXPIRES_IN_MAX_S,
    nullable: true,
  })
  @IsOptional()
  @IsInt()
  @Min(BLACKLIST_EXPIRES_IN_MIN_S)
  @Max(BLACKLIST_EXPIRES_IN_MAX_S)
  expires_in?: number | null;

  @ApiPropertyOptional({ default: 'api', minLength: 1, maxLength: BLACKLIST_SOURCE_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @Transform(trimString)
  @Length(1, BLACKLIST_SOURCE_MAX_LENGTH)
  source?: string;
}
