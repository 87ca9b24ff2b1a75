import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsIn, IsOptional, MaxLength } from 'class-validator';
import {
  STREAMS,
  SUPPRESSION_SCOPES,
  type Stream,
  type SuppressionScope,
} from 'src/common/streams';
import {
  BLACKLIST_EMAIL_MAX_LENGTH,
  trimString,
} from 'src/modules/blacklist/dto/blacklist-create.dto';

export class BlacklistCheckQueryDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: BLACKLIST_EMAIL_MAX_LENGTH })
  @Transform(trimString)
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(BLACKLIST_EMAIL_MAX_LENGTH)
  email: string;

  @ApiPropertyOptional({
    enum: STREAMS,
    description: 'Whether mail of this stream is blocked; omitted: any entry blocks',
  })
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream?: Stream;
}

/** `DELETE /api/v1/blacklist/:email?scope=`: one scope's entry, or (omitted) all of them. */
export class BlacklistRemoveQueryDto {
  @ApiPropertyOptional({
    enum: SUPPRESSION_SCOPES,
    description: 'Remove only the entry of this scope; omitted: every entry of the address',
  })
  @IsOptional()
  @IsIn(SUPPRESSION_SCOPES, { message: `scope must be one of: ${SUPPRESSION_SCOPES.join(', ')}` })
  scope?: SuppressionScope;
}
