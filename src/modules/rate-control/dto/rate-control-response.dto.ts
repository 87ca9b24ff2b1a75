import { ApiProperty } from '@nestjs/swagger';

export class DomainRateStateResponseDto {
  @ApiProperty({ example: 'gmail.com' })
  domain: string;

  @ApiProperty({ example: 0.5, description: 'Multiplier of the configured rate (0.1–1)' })
  factor: number;

  @ApiProperty({ example: 10, description: 'Effective messages per second (rate × factor)' })
  rate_per_sec: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the reduced factor lapses back to 1; null when not reduced',
  })
  expires_at: string | null;

  @ApiProperty({ description: "The domain's own pause flag (see paused_all for all sending)" })
  paused: boolean;
}

export class RateControlListResponseDto {
  @ApiProperty({ type: [DomainRateStateResponseDto] })
  domains: DomainRateStateResponseDto[];

  @ApiProperty({ description: 'All sending is paused' })
  paused_all: boolean;

  @ApiProperty({
    enum: ['transactional', 'broadcast'],
    isArray: true,
    example: ['broadcast'],
    description: 'Streams whose sending is paused (README "Streams")',
  })
  paused_streams: string[];
}

export class RateControlPauseResponseDto {
  @ApiProperty({ type: String, nullable: true, description: 'null: all sending or a stream' })
  domain: string | null;

  @ApiProperty({
    type: String,
    enum: ['transactional', 'broadcast'],
    nullable: true,
    description: 'The stream paused or resumed; null: a domain or all sending',
  })
  stream: string | null;

  @ApiProperty()
  paused: boolean;
}
