import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class TemplateListQueryDto {
  @ApiPropertyOptional({
    enum: ['true', 'false', 'all'],
    default: 'true',
    description: 'true: active templates only (default); false: deactivated only; all: both',
  })
  @IsIn(['true', 'false', 'all'])
  @IsOptional()
  active?: 'true' | 'false' | 'all';

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50 })
  @Max(100)
  @Min(1)
  @IsInt()
  @Type(() => Number)
  @IsOptional()
  limit?: number;

  @ApiPropertyOptional({ maxLength: 64, description: 'next_cursor of the previous page' })
  @MaxLength(64)
  @IsString()
  @IsOptional()
  cursor?: string;
}
