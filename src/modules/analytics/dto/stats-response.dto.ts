import { ApiProperty } from '@nestjs/swagger';

/** Distinct messages per outcome; a bounce is hard or soft, `bounced` is their sum. */
export class StatsCountsDto {
  @ApiProperty({ example: 1200 })
  sent: number;

  @ApiProperty({ example: 1150 })
  delivered: number;

  @ApiProperty({ example: 30 })
  bounced: number;

  @ApiProperty({ example: 10 })
  bounced_hard: number;

  @ApiProperty({ example: 20 })
  bounced_soft: number;

  @ApiProperty({ example: 1 })
  complained: number;

  @ApiProperty({ example: 400 })
  opened: number;

  @ApiProperty({ example: 60 })
  clicked: number;
}

/** Percentages (0–100, 2 decimals); 0 when the base is 0. */
export class StatsRatesDto {
  @ApiProperty({ example: 95.83, description: 'delivered / sent' })
  delivery_rate: number;

  @ApiProperty({ example: 2.5, description: '(bounced_hard + bounced_soft) / sent' })
  bounce_rate: number;

  @ApiProperty({ example: 0.08, description: 'complained / sent' })
  complaint_rate: number;

  @ApiProperty({ example: 34.78, description: 'opened / delivered' })
  open_rate: number;

  @ApiProperty({ example: 5.22, description: 'clicked / delivered' })
  click_rate: number;
}

export class StatsSeriesPointDto extends StatsCountsDto {
  @ApiProperty({ format: 'date-time', description: 'Start of the hour or UTC day' })
  at: string;
}

export class StatsDomainDto {
  @ApiProperty({ example: 'gmail.com' })
  domain: string;

  @ApiProperty()
  sent: number;

  @ApiProperty()
  delivered: number;

  @ApiProperty()
  bounced: number;

  @ApiProperty()
  complained: number;

  @ApiProperty({ example: 2.5 })
  bounce_rate: number;

  @ApiProperty({ example: 0.08 })
  complaint_rate: number;
}

export class StatsErrorDto {
  @ApiProperty({ type: String, nullable: true, example: '550' })
  smtp_code: string | null;

  @ApiProperty({
    example: '550 5.1.1 [email]: Recipient address rejected: User unknown',
    description: 'Normalised error text, recipient addresses redacted',
  })
  message: string;

  @ApiProperty({ example: 12 })
  count: number;
}

export class StatsResponseDto {
  @ApiProperty({ type: StatsCountsDto })
  totals: StatsCountsDto;

  @ApiProperty({ type: StatsRatesDto })
  rates: StatsRatesDto;

  @ApiProperty({
    type: [StatsSeriesPointDto],
    description: 'One point per hour or UTC day of the window, oldest first (zeros included)',
  })
  series: StatsSeriesPointDto[];

  @ApiProperty({ type: [StatsDomainDto], description: 'The 20 busiest domains by sent' })
  by_domain: StatsDomainDto[];

  @ApiProperty({ type: [StatsErrorDto], description: 'The 10 most frequent errors' })
  top_errors: StatsErrorDto[];
}
