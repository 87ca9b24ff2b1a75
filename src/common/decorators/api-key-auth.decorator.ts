import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { UnauthorizedError } from 'src/common/errors/app-error';
import type { ApiRequest } from 'src/common/http/api-request';
import type { AuthenticatedKey } from 'src/modules/auth/api-keys.service';

/**
 * The API key that authenticated the request, as a controller parameter:
 * `send(@ApiKeyAuth() key: AuthenticatedKey)`. The global ApiKeyGuard sets it (README
 * "Security"); on a route that has none (a @Public() one) it fails closed with 401 rather
 * than hand the controller `undefined`.
 */
export const ApiKeyAuth = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthenticatedKey => {
    const key = ctx.switchToHttp().getRequest<ApiRequest>().apiKey;
    if (!key) throw new UnauthorizedError();
    return key;
  },
);
