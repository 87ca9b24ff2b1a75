import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ALLOW_SEND_SCOPE, IS_PUBLIC } from 'src/common/decorators/route-policy.decorators';
import { ForbiddenError, UnauthorizedError } from 'src/common/errors/app-error';
import type { ApiRequest } from 'src/common/http/api-request';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Every route needs a bearer API key unless marked @Public(). Scope `send` reaches only
 * routes marked @AllowSendScope(); everything else needs `full`. Each wrong key presented
 * counts towards the IP's ban; a request without one (no header, or a browser's Basic
 * credentials sent along) is a 401 but no failure — any web page can make those
 * (README "Security").
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly bans: AuthBanService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const req = context.switchToHttp().getRequest<ApiRequest>();
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match) {
      throw new UnauthorizedError(
        header
          ? 'Authorization must be "Bearer <api key>"'
          : 'Missing Authorization: Bearer <api key>',
      );
    }
    const key = await this.keys.authenticate(match[1]);
    if (!key) {
      await this.bans.recordFailure(req.ip ?? 'unknown');
      throw new UnauthorizedError('Invalid or revoked API key');
    }
    req.apiKey = key;
    if (
      key.scope !== 'full' &&
      !this.reflector.getAllAndOverride<boolean>(ALLOW_SEND_SCOPE, targets)
    ) {
      throw new ForbiddenError(`An API key with scope "${key.scope}" may not call this route`);
    }
    return true;
  }
}
