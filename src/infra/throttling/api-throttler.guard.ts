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

/** Policies in the order the RateLimit fields list them. */
const POLICY_ORDER = [THROTTLER_IP, THROTTLER_BATCH, THROTTLER_KEY];

interface PolicyState {
  limit?: number;
  windowS?: number;
  remaining?: number;
  resetS?: number;
}

/** What each limit a response counted against said, per response (both guards write it). */
const policiesOf = new WeakMap<object, Map<string, PolicyState>>();

/**
 * The IETF RateLimit fields, draft-ietf-httpapi-ratelimit-headers-09 (README "API overview"):
 * `RateLimit-Policy: "ip";q=100;w=60, "key";q=1000;w=60` names every limit the request counted
 * against, `RateLimit: "ip";r=99;t=42, "key";r=999;t=42` what is left of each and in how many
 * seconds its window resets; the limit that tripped a 429 shows `r=0`.
 */
function writeRateLimitFields(res: Record<string, unknown>, policies: Map<string, PolicyState>) {
  const complete = POLICY_ORDER.flatMap((name) => {
    const p = policies.get(name);
    return p &&
      p.limit !== undefined &&
      p.windowS !== undefined &&
      p.remaining !== undefined &&
      p.resetS !== undefined
      ? [{ name, ...(p as Required<PolicyState>) }]
      : [];
  });
  if (complete.length === 0) return;
  const set = res.setHeader as ((name: string, value: string) => void) | undefined;
  set?.call(
    res,
    'RateLimit-Policy',
    complete.map((p) => `"${p.name}";q=${p.limit};w=${p.windowS}`).join(', '),
  );
  set?.call(
    res,
    'RateLimit',
    complete.map((p) => `"${p.name}";r=${p.remaining};t=${p.resetS}`).join(', '),
  );
}

/** Shared behaviour: our error shape, the IETF RateLimit fields, one subset of limits. */
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
    const res = props.context.switchToHttp().getResponse<Record<string, unknown>>();
    this.policy(res, props.throttler.name ?? '').windowS = Math.ceil(props.ttl / 1000);
    return super.handleRequest(props);
  }

  private policy(res: Record<string, unknown>, name: string): PolicyState {
    let policies = policiesOf.get(res);
    if (!policies) policiesOf.set(res, (policies = new Map()));
    let state = policies.get(name);
    if (!state) policies.set(name, (state = {}));
    return state;
  }

  /** The library's X-RateLimit-{Limit,Remaining,Reset}-<name> values, as RateLimit fields. */
  protected override setResponseHeader(
    res: Record<string, unknown>,
    name: string,
    value: string | number,
  ): void {
    // Retry-After is written by the exception filter from the error's retry_after.
    const m = /^X-RateLimit-(Limit|Remaining|Reset)-(ip|batch|key)$/.exec(name);
    if (!m) return;
    const state = this.policy(res, m[2]);
    const n = Number(value);
    if (m[1] === 'Limit') state.limit = n;
    else if (m[1] === 'Remaining') state.remaining = n;
    else state.resetS = n;
    writeRateLimitFields(res, policiesOf.get(res)!);
  }

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire);
    // The limit that tripped (generateKey: `<name>:<tracker>`) is the only one the 429 lists.
    const name = detail.key.slice(0, detail.key.indexOf(':'));
    const res = context.switchToHttp().getResponse<Record<string, unknown>>();
    const tripped = this.policy(res, name);
    Object.assign(tripped, { limit: detail.limit, remaining: 0, resetS: retryAfter });
    writeRateLimitFields(res, new Map([[name, tripped]]));
    throw new RateLimitExceededError(retryAfter);
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
