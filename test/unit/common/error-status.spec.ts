import {
  AppError,
  BlockedError,
  ForbiddenError,
  IdempotencyConflictError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitExceededError,
  RecipientSuppressedError,
  ServiceUnavailableError,
  TemplateInvalidError,
  TemplateNotFoundError,
  TemplateTooComplexError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationFailedError,
} from 'src/common/errors/app-error';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { httpStatusOf } from 'src/common/http/error-status';

/** Domain errors carry a code only; the edge maps it to the status each answered before. */
describe('HTTP status of domain errors', () => {
  const cases: Array<[AppError, number]> = [
    [new ValidationFailedError('x'), 400],
    [new UnauthorizedError(), 401],
    [new ForbiddenError(), 403],
    [new BlockedError(60), 403],
    [new NotFoundError(), 404],
    [new TemplateNotFoundError('t'), 404],
    [new MethodNotAllowedError('PUT', ['GET']), 405],
    [new IdempotencyConflictError('x'), 409],
    [new PayloadTooLargeError('1mb'), 413],
    [new UnsupportedMediaTypeError(), 415],
    [new RecipientSuppressedError('hard_bounce'), 422],
    [new TemplateInvalidError('x'), 422],
    [new TemplateTooComplexError('x'), 422],
    [new RateLimitExceededError(5), 429],
    [new ServiceUnavailableError(), 503],
  ];

  it.each(cases)('%p → %i, rendered by the filter with its code', (error, status) => {
    expect(httpStatusOf(error)).toBe(status);
    expect('status' in error).toBe(false);
    const rendered = toErrorBody(error, 'req-1');
    expect(rendered.status).toBe(status);
    expect(rendered.body.error.code).toBe(error.code);
  });
});
