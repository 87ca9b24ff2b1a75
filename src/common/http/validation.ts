import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ErrorDetail, ValidationFailedError } from 'src/common/errors/app-error';
import { findTooDeep, MAX_JSON_DEPTH } from 'src/common/validation/json-depth';

/** Flattens nested class-validator errors into `{field: "recipients.3.to", message}`. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(e.children ?? [], field)];
  });
}

/** A path a client wrote, echoed in an error: bounded. */
const echo = (path: string): string => (path.length > 120 ? `${path.slice(0, 120)}…` : path);

/**
 * The global pipe. A body or query nested deeper than MAX_JSON_DEPTH is a 400 before
 * class-transformer walks it (recursively: 10,000 levels overflowed the stack).
 */
class AppValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const deep = findTooDeep(value);
    if (deep !== null) {
      const message = `${echo(deep)} is nested more than ${MAX_JSON_DEPTH} levels deep`;
      return Promise.reject(new ValidationFailedError(message, [{ field: echo(deep), message }]));
    }
    return super.transform(value, metadata) as Promise<unknown>;
  }
}

export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const details = flattenValidationErrors(errors);
      return new ValidationFailedError(
        details.length === 1 ? details[0].message : `${details.length} fields are invalid`,
        details,
      );
    },
  });
}
