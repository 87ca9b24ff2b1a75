import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';
import { RateLimitExceededError, RecipientSuppressedError } from 'src/common/errors/app-error';

describe(toErrorBody.name, () => {
  it('renders domain errors with their code, details and extra fields', () => {
    expect(toErrorBody(new RateLimitExceededError(12), 'r1')).toEqual({
      status: 429,
      body: {
        error: { code: 'rate_limit_exceeded', message: 'Rate limit exceeded', retry_after: 12 },
        request_id: 'r1',
      },
    });
    expect(toErrorBody(new RecipientSuppressedError('hard_bounce'), 'r2').body.error).toEqual(
      expect.objectContaining({ code: 'recipient_suppressed', reason: 'hard_bounce' }),
    );
  });

  it('maps Nest HTTP exceptions to stable codes', () => {
    expect(toErrorBody(new NotFoundException('Cannot GET /x'), 'r').body.error.code).toBe(
      'not_found',
    );
    expect(toErrorBody(new BadRequestException(['a', 'b']), 'r').body.error).toEqual({
      code: 'validation_error',
      message: 'a; b',
    });
  });

  it('never leaks the message of an unknown error', () => {
    const { status, body } = toErrorBody(new Error('password=hunter2 at db.ts:42'), 'r');
    expect(status).toBe(500);
    expect(body).toEqual({
      error: { code: 'internal_error', message: 'Internal server error' },
      request_id: 'r',
    });
    expect(toErrorBody(new HttpException('secret internals', 502), 'r').body.error.message).toBe(
      'Internal server error',
    );
  });

  it('answers 503 service_unavailable when PostgreSQL or Redis is unreachable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    expect(toErrorBody(refused, 'r').status).toBe(503);
    expect(toErrorBody(new Error('Connection terminated unexpectedly'), 'r').body.error.code).toBe(
      'service_unavailable',
    );
    const pgShutdown = Object.assign(
      new Error('terminating connection due to administrator command'),
      { code: '57P01' },
    );
    expect(toErrorBody(pgShutdown, 'r').status).toBe(503);
  });
});
