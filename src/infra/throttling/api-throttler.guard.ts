import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import { SKIP_IP_LIMIT } from 'src/common/decorators/route-policy.decorators';
import { RateLimitExceededError } from 'src/common/errors/app-error';
import type { ApiRequest } from 'src/common/http/api-request';
import { matchedRoute } from 'src/common/http/client-address';
import { AppConfig } from 'src/config/app-config';

type ThrottlerRequest = Parameters<ThrottlerGuard['handleRequest']>[0];

export const THROTTLER_IP = 'ip';
export const THROTTLER_BATCH = 'batch';
export const THROTTLER_KEY = 'key';
const MINUTE_MS = 60_000;

/**
 * README "Security": per IP on /api, stricter on POST /api/v1/batch, per API key. Each
 * keys on the route Express matched, never on the URL as sent (another spelling of a path
 * must not skip a limit).
 */
export function throttlerOptions(config: AppConfig): ThrottlerModuleOptions {
  const req = (ctx: ExecutionContext): ApiRequest => ctx.switchToHttp().getRequest<ApiRequest>();
  return {
    throttlers: [
      {
        name: THROTTLER_IP,
        ttl: MINUTE_MS,
        limit: config.rateLimits.ipPerMin,
        skipIf: (ctx) => !matchedRoute(req(ctx)).startsWith('/api/'),
      },
      {
        name: THROTTLER_BATCH,
        ttl: MINUTE_MS,
        limit: config.rateLimits.batchPerMin,
        skipIf: (ctx) =>
          !(req(ctx).method === 'POST' && matchedRoute(req(ctx)) === '/api/v1/batch'),
      },
      {
        name: THROTTLER_KEY,
        ttl: MINUTE_MS,
        limit: config.rateLimits.keyPerMin,
        skipIf: (ctx) => !req(ctx).apiKey,
        getTracker: (r: Record<string, unknown>) =>
          `key-${(r as unknown as ApiRequest).apiKey?.id ?? 'none'}`,
      },
    ],
    // One counter per tracker for all routes (not per route, the library's default).
    generateKey: (_ctx, tracker, name) => `${name}:${tracker}`,
  };
}

/** Shared behaviour: our error shape, plain X-RateLimit-* header names, one subset of limits. */
abstract class SubsetThrottlerGuard extends ThrottlerGuard {
  protected abstract handles(name: string): boolean;

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    if (!this.handles(props.throttler.name ?? '')) return true;
    if (props.throttler.name === THROTTLER_IP || props.throttler.name === THROTTLER_BATCH) {
      const exempt = this.reflector.getAllAndOverride<boolean>(SKIP_IP_LIMIT, [
        props.context.getHandler(),
        props.context.getClass(),
      ]);
      if (exempt) return true;
    }
    return super.handleRequest(props);
  }

  protected override setResponseHeader(
    res: Record<string, unknown>,
    name: string,
    value: string | number,
  ): void {
    // Retry-After is written by the exception filter from the error's retry_after.
    if (name.startsWith('Retry-After')) return;
    super.setResponseHeader(res, name.replace(/-(ip|batch|key)$/, ''), value);
  }

  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw new RateLimitExceededError(Math.max(1, detail.timeToBlockExpire));
  }
}

/** Runs before authentication: every /api request counts against its IP. */
@Injectable()
export class IpThrottlerGuard extends SubsetThrottlerGuard {
  protected handles(name: string): boolean {
    return name === THROTTLER_IP || name === THROTTLER_BATCH;
  }
}

/** Runs after authentication: counts per API key. */
@Injectable()
export class KeyThrottlerGuard extends SubsetThrottlerGuard {
  protected handles(name: string): boolean {
    return name === THROTTLER_KEY;
  }
}
