export type ErrorCode =
  | 'validation_error'
  | 'unauthorized'
  | 'forbidden'
  | 'blocked'
  | 'not_found'
  | 'method_not_allowed'
  | 'template_not_found'
  | 'idempotency_key_conflict'
  | 'message_not_pending'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'recipient_suppressed'
  | 'attachment_forbidden'
  | 'domain_not_verified'
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

/**
 * A domain error with a stable `code` (README "API overview": error codes). It knows nothing of
 * HTTP: the edge maps its code to a status (src/common/http/error-status.ts) and the global
 * filter renders it.
 */
export class AppError extends Error {
  constructor(
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
    super('validation_error', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API key is required') {
    super('unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'This API key may not call this route') {
    super('forbidden', message);
  }
}

export class BlockedError extends AppError {
  constructor(retryAfterS: number) {
    super(
      'blocked',
      'Too many failed authentication attempts from this address; try again later',
      undefined,
      { retry_after: retryAfterS },
    );
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super('not_found', message);
  }
}

/** 405: the path exists, not with this method; `allow` is what the `Allow` header lists. */
export class MethodNotAllowedError extends AppError {
  constructor(
    method: string,
    readonly allow: string[],
  ) {
    super('method_not_allowed', `${method} is not allowed here; allowed: ${allow.join(', ')}`);
  }
}

export class TemplateNotFoundError extends AppError {
  constructor(templateId: string) {
    super('template_not_found', `Template "${templateId}" not found`);
  }
}

export class IdempotencyConflictError extends AppError {
  constructor(message: string) {
    super('idempotency_key_conflict', message);
  }
}

/**
 * 409: the message is no longer waiting to be handed to the provider (README "Cancel and
 * reschedule"): being sent, sent, or final. `status` says which.
 */
export class MessageNotPendingError extends AppError {
  constructor(action: 'canceled' | 'rescheduled', status: string) {
    super(
      'message_not_pending',
      `The message is ${status} and can no longer be ${action}`,
      undefined,
      {
        status,
      },
    );
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limit: string) {
    super('payload_too_large', `Request body exceeds ${limit}`);
  }
}

/**
 * 413: a message whose attachments and bodies decode to more than MAX_MESSAGE_BYTES (README
 * "Sending"); details name the attachment that crossed the limit.
 */
export class MessageTooLargeError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('payload_too_large', message, details);
  }
}

/** 422: an attachment of a type mailbox providers refuse (README "Sending": attachments). */
export class AttachmentForbiddenError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('attachment_forbidden', message, details);
  }
}

/** 415: a request body that is not `application/json` (README "API overview"). */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'The request body must be application/json') {
    super('unsupported_media_type', message);
  }
}

export class RecipientSuppressedError extends AppError {
  constructor(reason: string) {
    super(
      'recipient_suppressed',
      `The recipient is on the suppression list (${reason})`,
      undefined,
      { reason },
    );
  }
}

/**
 * 422: REQUIRE_VERIFIED_DOMAINS is on and the From domain is not a verified sending domain
 * (README "Sending domains").
 */
export class DomainNotVerifiedError extends AppError {
  constructor(domain: string, known: boolean) {
    super(
      'domain_not_verified',
      known
        ? `The From domain ${domain} is not verified: fix its DNS records (GET /api/v1/domains/${domain}) and verify it again`
        : `The From domain ${domain} is not a sending domain: add it with POST /api/v1/domains and publish its DNS records`,
      [{ field: 'from', message: `${domain} is not a verified sending domain` }],
      { domain },
    );
  }
}

export class TemplateInvalidError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('template_invalid', message, details);
  }
}

/** 422: a template over one of the TEMPLATE_* limits (README "Security"); details name it. */
export class TemplateTooComplexError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('template_too_complex', message, details);
  }
}

export class RateLimitExceededError extends AppError {
  constructor(readonly retryAfterS: number) {
    super('rate_limit_exceeded', 'Rate limit exceeded', undefined, {
      retry_after: retryAfterS,
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'A backing service is unavailable; retry shortly') {
    super('service_unavailable', message);
  }
}
