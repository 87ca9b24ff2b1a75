import { HttpStatus } from '@nestjs/common';

export type ErrorCode =
  | 'validation_error'
  | 'unauthorized'
  | 'forbidden'
  | 'blocked'
  | 'not_found'
  | 'template_not_found'
  | 'idempotency_key_conflict'
  | 'payload_too_large'
  | 'recipient_suppressed'
  | 'template_invalid'
  | 'template_too_complex'
  | 'rate_limit_exceeded'
  | 'service_unavailable'
  | 'internal_error';

export interface ErrorDetail {
  field?: string;
  message: string;
  [extra: string]: unknown;
}

/** A domain error with a stable `code` (SPEC §4); the global filter renders it. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** Extra top-level fields of the `error` object (e.g. `retry_after`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationFailedError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(HttpStatus.BAD_REQUEST, 'validation_error', message, details);
  }
}

/** 422 validation_error: the original API's shape for duplicates and missing fields. */
export class UnprocessableValidationError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(HttpStatus.UNPROCESSABLE_ENTITY, 'validation_error', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API key is required') {
    super(HttpStatus.UNAUTHORIZED, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'This API key may not call this route') {
    super(HttpStatus.FORBIDDEN, 'forbidden', message);
  }
}

export class BlockedError extends AppError {
  constructor(retryAfterS: number) {
    super(
      HttpStatus.FORBIDDEN,
      'blocked',
      'Too many failed authentication attempts from this address; try again later',
      undefined,
      { retry_after: retryAfterS },
    );
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super(HttpStatus.NOT_FOUND, 'not_found', message);
  }
}

export class TemplateNotFoundError extends AppError {
  constructor(templateId: string) {
    super(HttpStatus.NOT_FOUND, 'template_not_found', `Template "${templateId}" not found`);
  }
}

export class IdempotencyConflictError extends AppError {
  constructor(message: string) {
    super(HttpStatus.CONFLICT, 'idempotency_key_conflict', message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limit: string) {
    super(HttpStatus.PAYLOAD_TOO_LARGE, 'payload_too_large', `Request body exceeds ${limit}`);
  }
}

export class RecipientSuppressedError extends AppError {
  constructor(reason: string) {
    super(
      HttpStatus.UNPROCESSABLE_ENTITY,
      'recipient_suppressed',
      `The recipient is on the suppression list (${reason})`,
      undefined,
      { reason },
    );
  }
}

export class TemplateInvalidError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(HttpStatus.UNPROCESSABLE_ENTITY, 'template_invalid', message, details);
  }
}

/** 422: a template over one of the TEMPLATE_* limits (README "Security"); details name it. */
export class TemplateTooComplexError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(HttpStatus.UNPROCESSABLE_ENTITY, 'template_too_complex', message, details);
  }
}

export class RateLimitExceededError extends AppError {
  constructor(readonly retryAfterS: number) {
    super(HttpStatus.TOO_MANY_REQUESTS, 'rate_limit_exceeded', 'Rate limit exceeded', undefined, {
      retry_after: retryAfterS,
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'A backing service is unavailable; retry shortly') {
    super(HttpStatus.SERVICE_UNAVAILABLE, 'service_unavailable', message);
  }
}
