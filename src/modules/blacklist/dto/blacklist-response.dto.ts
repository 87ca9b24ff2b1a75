import { ApiProperty } from '@nestjs/swagger';
import { SUPPRESSION_SCOPES } from 'src/common/streams';
import { BLACKLIST_REASONS } from 'src/modules/blacklist/blacklist-entry.entity';

export class BlacklistEntryResponseDto {
  @ApiProperty({ example: 'ann@example.com', description: 'Trimmed and lower-cased' })
  email: string;

  @ApiProperty({ enum: BLACKLIST_REASONS })
  reason: string;

  @ApiProperty({ enum: SUPPRESSION_SCOPES, example: 'all', description: 'README "Streams"' })
  scope: string;

  @ApiProperty({ type: String, nullable: true, example: 'api' })
  source: string | null;

  @ApiProperty({ type: String, nullable: true })
  details: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'null = permanent',
  })
  expires_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

export class BlacklistListResponseDto {
  @ApiProperty({ type: [BlacklistEntryResponseDto] })
  data: BlacklistEntryResponseDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page' })
  next_cursor: string | null;
}

export class BlacklistCheckResponseDto {
  @ApiProperty({ example: 'ann@example.com' })
  email: string;

  @ApiProperty()
  blocked: boolean;

  @ApiProperty({ enum: BLACKLIST_REASONS, nullable: true })
  reason: string | null;

  @ApiProperty({
    enum: SUPPRESSION_SCOPES,
    nullable: true,
    description: "The scope of the entry that blocks (`all` before a stream's own)",
  })
  scope: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expires_at: string | null;
}

export class BlacklistRemoveResponseDto {
  @ApiProperty({ example: 'ann@example.com' })
  email: string;

  @ApiProperty({ example: true })
  removed: boolean;
}
