import type { AppError, ErrorCode } from 'src/common/errors/app-error';

/**
 * The HTTP status of each error code: the one place where a domain error meets HTTP (README
 * "API overview": error codes). Services throw AppErrors by code; the global exception filter
 * answers with this status.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  blocked: 403,
  not_found: 404,
  template_not_found: 404,
  method_not_allowed: 405,
  idempotency_key_conflict: 409,
  message_not_pending: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  recipient_suppressed: 422,
  attachment_forbidden: 422,
  domain_not_verified: 422,
  template_invalid: 422,
  template_too_complex: 422,
  rate_limit_exceeded: 429,
  internal_error: 500,
  service_unavailable: 503,
};

export const httpStatusOf = (error: AppError): number => HTTP_STATUS_BY_CODE[error.code];
