import type { ExecutionContext } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { ApiKeyAuth } from 'src/common/decorators/api-key-auth.decorator';
import { UnauthorizedError } from 'src/common/errors/app-error';
import { toErrorBody } from 'src/common/errors/all-exceptions.filter';

/** The factory Nest runs for a parameter decorated with `@ApiKeyAuth()`. */
function factoryOf(): (data: unknown, ctx: ExecutionContext) => unknown {
  class Probe {
    handler(@ApiKeyAuth() _key: unknown): void {}
  }
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Probe, 'handler') as Record<
    string,
    { factory: (data: unknown, ctx: ExecutionContext) => unknown; index: number; data: unknown }
  >;
  const [entry] = Object.values(args);
  expect(entry.index).toBe(0);
  return entry.factory;
}

function httpContext(req: object): ExecutionContext {
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}), getNext: () => ({}) }),
  } as unknown as ExecutionContext;
}

describe('@ApiKeyAuth()', () => {
  it('hands the controller the key the ApiKeyGuard authenticated', () => {
    const key = { id: 7, name: 'shop', scope: 'send' as const };
    expect(factoryOf()(undefined, httpContext({ apiKey: key }))).toBe(key);
  });

  it('fails closed with 401 unauthorized when no key was authenticated (e.g. a @Public route)', () => {
    const factory = factoryOf();
    let thrown: unknown;
    try {
      factory(undefined, httpContext({}));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UnauthorizedError);
    const { status, body } = toErrorBody(thrown, 'req-1');
    expect(status).toBe(401);
    expect(body.error.code).toBe('unauthorized');
  });
});
