import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, MaxLength } from 'class-validator';
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
}
