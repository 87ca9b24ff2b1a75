import { Controller, ExecutionContext, Get } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { BlockedError } from 'src/common/errors/app-error';
import { AppConfig, loadConfig } from 'src/config/app-config';
import {
  throttlerOptions,
  THROTTLER_BATCH,
  THROTTLER_IP,
} from 'src/infra/throttling/api-throttler.guard';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { BanGuard } from 'src/modules/auth/guards/ban.guard';

@Controller()
class RoutesUnderTest {
  @Get() handler(): void {}
}

/** The request as Express hands it to a guard: `route.path` is the pattern it matched. */
function contextFor(method: string, path: string, routePath?: string): ExecutionContext {
  const req = {
    method,
    path,
    baseUrl: '',
    route: routePath ? { path: routePath } : undefined,
    headers: {},
    ip: '10.0.0.1',
  };
  return {
    getType: () => 'http',
    getHandler: () => RoutesUnderTest.prototype.handler,
    getClass: () => RoutesUnderTest,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
}

/**
 * Issue 11: `/API/v1/messages` or `/api/v1/batch/` must not reach a route while skipping the
 * checks meant for it. Routing is case-sensitive and strict, and the guards key on the route
 * Express matched, not on the URL as sent (either alone closes the hole).
 */
describe('checks keyed on the matched route', () => {
  const config: AppConfig = loadConfig({ NODE_ENV: 'test' });

  it('BanGuard refuses a banned IP on an /api route whatever the spelling of the URL', async () => {
    const bans = { banSecondsLeft: jest.fn().mockResolvedValue(600) };
    const guard = new BanGuard(bans as unknown as AuthBanService, new Reflector());
    for (const path of ['/API/v1/messages', '/Api/v1/messages', '/api/v1/messages/']) {
      await expect(
        guard.canActivate(contextFor('GET', path, '/api/v1/messages')),
      ).rejects.toBeInstanceOf(BlockedError);
    }
  });

  it('the per-IP and batch limits apply to the matched route, whatever the spelling', () => {
    const { throttlers } = throttlerOptions(config) as unknown as {
      throttlers: Array<{
        name: string;
        skipIf: (ctx: ExecutionContext) => boolean;
      }>;
    };
    const ip = throttlers.find((x) => x.name === THROTTLER_IP)!;
    const batch = throttlers.find((x) => x.name === THROTTLER_BATCH)!;
    for (const path of ['/API/v1/batch', '/api/v1/batch/', '/Api/V1/Batch']) {
      const ctx = contextFor('POST', path, '/api/v1/batch');
      expect(ip.skipIf(ctx)).toBe(false);
      expect(batch.skipIf(ctx)).toBe(false);
    }
    // Outside /api (dashboard, tracking) the IP limit does not apply.
    expect(ip.skipIf(contextFor('GET', '/dashboard', '/dashboard'))).toBe(true);
    expect(batch.skipIf(contextFor('POST', '/api/v1/send', '/api/v1/send'))).toBe(true);
  });
});
