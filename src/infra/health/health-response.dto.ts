import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';

const CHECKS: { type: 'object'; additionalProperties: SchemaObject; example: unknown } = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
    required: ['status'],
    additionalProperties: true,
  },
  example: { database: { status: 'up' }, redis: { status: 'up' } },
};

/** The readiness answer (@nestjs/terminus): 200 when every part is up, 503 naming the others. */
export class HealthResponseDto {
  @ApiProperty({ enum: ['ok', 'error'], example: 'ok' })
  status: 'ok' | 'error';

  @ApiPropertyOptional({ ...CHECKS, description: 'The parts that are up' })
  info?: Record<string, { status: string }>;

  @ApiPropertyOptional({ ...CHECKS, description: 'The parts that are down, with the reason' })
  error?: Record<string, { status: string }>;

  @ApiProperty({ ...CHECKS, description: 'Every part' })
  details: Record<string, { status: string }>;
}

export class LivenessResponseDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';
}
