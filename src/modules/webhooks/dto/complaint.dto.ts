import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';

export class ComplaintCreateDto {
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'The message complained about (or give email)',
  })
  @IsOptional()
  @IsUUID()
  message_id?: string;

  @ApiPropertyOptional({
    example: 'ann@example.com',
    format: 'email',
    maxLength: 320,
    description: 'The complaining address (or give message_id)',
  })
  @IsOptional()
  @IsEmail()
  @MaxLength(320)
  email?: string;

  @ApiPropertyOptional({
    example: 'gmail-fbl',
    maxLength: 64,
    description: 'Where the complaint came from',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[^\r\n]*$/)
  source?: string;
}

export class ComplaintResponseDto {
  @ApiProperty() email: string;
  @ApiPropertyOptional({ type: String, nullable: true, format: 'uuid' }) message_id: string | null;
  @ApiProperty({
    description: 'The message moved to complained (false when it already was, or none matched)',
  })
  complained: boolean;
  @ApiProperty() suppressed: boolean;
}
