import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import {
  HOSTNAME_MESSAGE,
  HOSTNAME_PATTERN,
  NormalizeDomain,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';

/** Body of pause/resume: a recipient domain, or nothing for all sending. */
export class RateControlPauseDto {
  @ApiPropertyOptional({
    example: 'gmail.com',
    description: 'Recipient domain; omit to pause or resume all sending',
  })
  @IsOptional()
  @NormalizeDomain()
  // Also rejects non-strings, so a wrong type gets the same single message.
  @Matches(HOSTNAME_PATTERN, { message: HOSTNAME_MESSAGE })
  domain?: string;
}
