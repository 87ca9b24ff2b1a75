import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class ErrorDetailDto {
  @ApiPropertyOptional({ example: 'to' })
  field?: string;

  @ApiProperty({ example: 'to must be an email' })
  message: string;
}

export class ErrorObjectDto {
  @ApiProperty({
    enum: [
      'validation_error',
      'unauthorized',
      'forbidden',
      'blocked',
      'not_found',
      'method_not_allowed',
      'template_not_found',
      'idempotency_key_conflict',
      'message_not_pending',
      'payload_too_large',
      'unsupported_media_type',
      'recipient_suppressed',
      'attachment_forbidden',
      'domain_not_verified',
      'template_invalid',
      'template_too_complex',
      'rate_limit_exceeded',
      'service_unavailable',
      'internal_error',
    ],
  })
  code: string;

  @ApiProperty()
  message: string;

  @ApiPropertyOptional({ type: [ErrorDetailDto] })
  details?: ErrorDetailDto[];

  @ApiPropertyOptional({ description: 'Seconds to wait (rate_limit_exceeded, blocked)' })
  retry_after?: number;

  @ApiPropertyOptional({
    description: 'The From domain (domain_not_verified)',
    example: 'shop.example',
  })
  domain?: string;

  @ApiPropertyOptional({
    example: 'processing',
    description: "message_not_pending: the message's status now",
  })
  status?: string;
}

/** The one error body of every /api route (README "API overview"). */
export class ErrorResponseDto {
  @ApiProperty({ type: ErrorObjectDto })
  error: ErrorObjectDto;

  @ApiProperty({ example: '6f1c2a4e-…' })
  request_id: string;
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'validation_error',
  401: 'unauthorized',
  403: 'forbidden or blocked',
  404: 'not_found / template_not_found',
  409: 'idempotency_key_conflict / message_not_pending (the message is being sent or was)',
  413: 'payload_too_large',
  415: 'unsupported_media_type (a request body that is not application/json)',
  422: 'recipient_suppressed / attachment_forbidden / domain_not_verified / template_invalid / template_too_complex',
  429: 'rate_limit_exceeded (see Retry-After)',
  503: 'service_unavailable',
};

/** Documents the error responses a route can give, all in the shared error shape. */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...[...statuses, 500].map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'internal_error',
        type: ErrorResponseDto,
      }),
    ),
  );
}
