import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { STREAMS, type Stream } from 'src/common/streams';
import {
  HOSTNAME_MESSAGE,
  HOSTNAME_PATTERN,
  NormalizeDomain,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';

/** Body of pause/resume: a recipient domain, or a stream, or nothing for all sending. */
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

  @ApiPropertyOptional({
    enum: STREAMS,
    example: 'broadcast',
    description:
      'README "Streams": pause or resume the sending of one stream (not with domain); its ' +
      'messages wait in the queue, none fails',
  })
  @IsOptional()
  @IsIn(STREAMS, { message: `stream must be one of: ${STREAMS.join(', ')}` })
  stream?: Stream;
}
