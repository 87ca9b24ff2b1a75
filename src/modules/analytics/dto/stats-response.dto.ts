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

/** The totals and rates of one stream over the window. */
export class StatsStreamDto {
  @ApiProperty({ type: StatsCountsDto })
  totals: StatsCountsDto;

  @ApiProperty({ type: StatsRatesDto })
  rates: StatsRatesDto;
}

/** One entry per stream (README "Streams"). */
export class StatsByStreamDto {
  @ApiProperty({
    type: StatsStreamDto,
    example: {
      totals: {
        sent: 200,
        delivered: 198,
        bounced: 2,
        bounced_hard: 1,
        bounced_soft: 1,
        complained: 0,
        opened: 90,
        clicked: 20,
      },
      rates: {
        delivery_rate: 99,
        bounce_rate: 1,
        complaint_rate: 0,
        open_rate: 45.45,
        click_rate: 10.1,
      },
    },
  })
  transactional: StatsStreamDto;

  @ApiProperty({
    type: StatsStreamDto,
    example: {
      totals: {
        sent: 1000,
        delivered: 952,
        bounced: 28,
        bounced_hard: 9,
        bounced_soft: 19,
        complained: 1,
        opened: 310,
        clicked: 40,
      },
      rates: {
        delivery_rate: 95.2,
        bounce_rate: 2.8,
        complaint_rate: 0.1,
        open_rate: 32.56,
        click_rate: 4.2,
      },
    },
  })
  broadcast: StatsStreamDto;
}

export class StatsResponseDto {
  @ApiProperty({ type: StatsCountsDto, description: 'Of the requested stream, or all streams' })
  totals: StatsCountsDto;

  @ApiProperty({ type: StatsRatesDto })
  rates: StatsRatesDto;

  @ApiProperty({
    type: StatsByStreamDto,
    description:
      'Totals and rates of each stream over the same window, domain and campaign, whatever `stream` asks for. Without `stream`, `totals` is their sum, except for hours aggregated before streams were counted apart (they count in `totals` only)',
  })
  by_stream: StatsByStreamDto;

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
