import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ErrorDetail, ValidationFailedError } from 'src/common/errors/app-error';
import { findTooDeep, MAX_JSON_DEPTH } from 'src/common/validation/json-depth';

/**
 * How useful a failed constraint's message is when a field breaks several: an unknown
 * property or a missing value first, then what the value is (its type), then its format, and
 * only then its size. `limit=abc` is "must be an integer number", never also "must not be
 * less than 1" and "must not be greater than 500" (README "API overview": one message per
 * invalid field).
 */
const CONSTRAINT_RANK: Readonly<Record<string, number>> = {
  whitelistValidation: 0,
  isDefined: 0,
  nestedValidation: 1,
  isString: 1,
  isInt: 1,
  isNumber: 1,
  isNumberString: 1,
  isBoolean: 1,
  isArray: 1,
  isObject: 1,
  isNotEmptyObject: 1,
  isDate: 1,
  isEnum: 1,
  isIn: 1,
  isNotEmpty: 2,
  min: 4,
  max: 4,
  minLength: 4,
  maxLength: 4,
  length: 4,
  arrayMinSize: 4,
  arrayMaxSize: 4,
  arrayNotEmpty: 4,
  maxDate: 4,
  minDate: 4,
};
/** Any other constraint (a format, a pattern, a custom rule) ranks between type and size. */
const FORMAT_RANK = 3;

/** The one message for a field: "x is required" when it is absent, else the most useful. */
function bestMessage(e: ValidationError, field: string): string | null {
  const entries = Object.entries(e.constraints ?? {});
  if (entries.length === 0) return null;
  const absent = e.value === undefined || e.value === null;
  if (absent && !('whitelistValidation' in (e.constraints ?? {}))) {
    return e.constraints?.isDefined ?? `${field} is required`;
  }
  let best = entries[0];
  for (const entry of entries) {
    if ((CONSTRAINT_RANK[entry[0]] ?? FORMAT_RANK) < (CONSTRAINT_RANK[best[0]] ?? FORMAT_RANK)) {
      best = entry;
    }
  }
  return best[1];
}

/**
 * Flattens nested class-validator errors into `{field: "recipients.3.to", message}`: one
 * detail per invalid field (its most useful message), nested fields by their path.
 */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const message = bestMessage(e, field);
    const own = message === null ? [] : [{ field, message }];
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
    // Every failed constraint reaches the factory with the value, which picks one per field.
    validationError: { target: false, value: true },
    exceptionFactory: (errors) => {
      const details = flattenValidationErrors(errors);
      return new ValidationFailedError(
        details.length === 1 ? details[0].message : `${details.length} fields are invalid`,
        details,
      );
    },
  });
}
