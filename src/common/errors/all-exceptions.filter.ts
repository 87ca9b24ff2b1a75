import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, ErrorCode, ErrorDetail } from 'src/common/errors/app-error';
import { isUnavailableError } from 'src/common/errors/unavailable';
import { httpStatusOf } from 'src/common/http/error-status';

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'validation_error',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'idempotency_key_conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_error',
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: ErrorDetail[]; [k: string]: unknown };
  request_id: string;
}

/** Renders any thrown value as the one error body (README "API overview"). */
export function toErrorBody(
  exception: unknown,
  requestId: string,
): { status: number; body: ErrorBody } {
  if (exception instanceof AppError) {
    return {
      status: httpStatusOf(exception),
      body: {
        error: {
          code: exception.code,
          message: exception.message,
          ...(exception.details ? { details: exception.details } : {}),
          ...(exception.extra ?? {}),
        },
        request_id: requestId,
      },
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'validation_error');
    const response = exception.getResponse();
    let message = exception.message;
    if (typeof response === 'object' && response !== null && 'message' in response) {
      const m = (response as { message: unknown }).message;
      message = Array.isArray(m) ? m.join('; ') : String(m);
    }
    if (status >= 500) message = 'Internal server error';
    return { status, body: { error: { code, message }, request_id: requestId } };
  }
  if (isUnavailableError(exception)) {
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: {
        error: {
          code: 'service_unavailable',
          message: 'A backing service is unavailable; retry shortly',
        },
        request_id: requestId,
      },
    };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: {
      error: { code: 'internal_error', message: 'Internal server error' },
      request_id: requestId,
    },
  };
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger(AllExceptionsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const requestId = String(req.id ?? '');
    const { status, body } = toErrorBody(exception, requestId);
    if (status >= 500) {
      this.logger.error(
        { err: exception, requestId, path: req.path, method: req.method },
        status === 503 ? 'backing service unavailable' : 'unhandled error',
      );
    }
    if (res.headersSent) return;
    const retryAfter = body.error.retry_after;
    if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(retryAfter));
    res.status(status).json(body);
  }
}
