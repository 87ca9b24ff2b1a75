import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { SUPPRESSION_SCOPES, type SuppressionScope } from 'src/common/streams';
import {
  BLACKLIST_REASONS,
  type BlacklistReason,
} from 'src/modules/blacklist/blacklist-entry.entity';

export const BLACKLIST_LIST_DEFAULT_LIMIT = 100;
export const BLACKLIST_LIST_MAX_LIMIT = 500;

export class BlacklistListQueryDto {
  @ApiPropertyOptional({ enum: BLACKLIST_REASONS })
  @IsOptional()
  @IsIn(BLACKLIST_REASONS, { message: `reason must be one of: ${BLACKLIST_REASONS.join(', ')}` })
  reason?: BlacklistReason;

  @ApiPropertyOptional({ enum: SUPPRESSION_SCOPES })
  @IsOptional()
  @IsIn(SUPPRESSION_SCOPES, { message: `scope must be one of: ${SUPPRESSION_SCOPES.join(', ')}` })
  scope?: SuppressionScope;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: BLACKLIST_LIST_MAX_LIMIT,
    default: BLACKLIST_LIST_DEFAULT_LIMIT,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(BLACKLIST_LIST_MAX_LIMIT)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 200, description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
