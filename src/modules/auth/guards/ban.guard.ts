import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SKIP_IP_LIMIT } from 'src/common/decorators/route-policy.decorators';
import { BlockedError } from 'src/common/errors/app-error';
import type { ApiRequest } from 'src/common/http/api-request';
import { matchedRoute } from 'src/common/http/client-address';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';

/**
 * A banned IP gets 403 `blocked` on every /api route — even with a good key (README "Security").
 * Keyed on the matched route, not on the URL as sent.
 */
@Injectable()
export class BanGuard implements CanActivate {
  constructor(
    private readonly bans: AuthBanService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<ApiRequest>();
    if (!matchedRoute(req).startsWith('/api/')) return true;
    const exempt = this.reflector.getAllAndOverride<boolean>(SKIP_IP_LIMIT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (exempt) return true;
    const left = await this.bans.banSecondsLeft(req.ip ?? 'unknown');
    if (left > 0) throw new BlockedError(left);
    return true;
  }
}
