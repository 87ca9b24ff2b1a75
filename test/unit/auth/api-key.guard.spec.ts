import { Controller, ExecutionContext, Get } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AllowSendScope, Public } from 'src/common/decorators/route-policy.decorators';
import { ForbiddenError, UnauthorizedError } from 'src/common/errors/app-error';
import { ApiKeysService, AuthenticatedKey } from 'src/modules/auth/api-keys.service';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { ApiKeyGuard } from 'src/modules/auth/guards/api-key.guard';

@Controller()
class RoutesUnderTest {
  @Get() fullOnly(): void {}
  @Get() @AllowSendScope() sendAllowed(): void {}
  @Get() @Public() open(): void {}
}

function contextFor(handler: keyof RoutesUnderTest, headers: Record<string, string> = {}) {
  const req: Record<string, unknown> = { headers, ip: '10.0.0.1' };
  const ctx = {
    getType: () => 'http',
    getHandler: () => RoutesUnderTest.prototype[handler],
    getClass: () => RoutesUnderTest,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
  return { ctx, req };
}

describe(ApiKeyGuard.name, () => {
  let keys: jest.Mocked<Pick<ApiKeysService, 'authenticate'>>;
  let bans: jest.Mocked<Pick<AuthBanService, 'recordFailure'>>;
  let guard: ApiKeyGuard;
  const sendKey: AuthenticatedKey = { id: 7, name: 'app', scope: 'send' };
  const fullKey: AuthenticatedKey = { id: 8, name: 'ops', scope: 'full' };

  beforeEach(() => {
    keys = { authenticate: jest.fn() };
    bans = { recordFailure: jest.fn().mockResolvedValue(false) };
    guard = new ApiKeyGuard(
      keys as unknown as ApiKeysService,
      bans as unknown as AuthBanService,
      new Reflector(),
    );
  });

  describe('canActivate', () => {
    it('lets public routes through without a key', async () => {
      await expect(guard.canActivate(contextFor('open').ctx)).resolves.toBe(true);
      expect(keys.authenticate).not.toHaveBeenCalled();
    });

    // Issue 11: a request without a key is not a failed authentication (any web page can
    // make a browser send five of them); only a wrong key presented counts.
    it('rejects a missing header without counting a failure', async () => {
      await expect(guard.canActivate(contextFor('fullOnly').ctx)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      expect(bans.recordFailure).not.toHaveBeenCalled();
    });

    it('rejects a non-Bearer header (a browser sending Basic along) without counting', async () => {
      for (const authorization of ['Basic b3BzOnB3', 'Bearer', '']) {
        const { ctx } = contextFor('fullOnly', { authorization });
        await expect(guard.canActivate(ctx)).rejects.toBeInstanceOf(UnauthorizedError);
      }
      expect(keys.authenticate).not.toHaveBeenCalled();
      expect(bans.recordFailure).not.toHaveBeenCalled();
    });

    it('rejects an unknown key and counts the failure', async () => {
      keys.authenticate.mockResolvedValue(null);
      const { ctx } = contextFor('fullOnly', { authorization: 'Bearer esk_unknown' });
      await expect(guard.canActivate(ctx)).rejects.toBeInstanceOf(UnauthorizedError);
      expect(keys.authenticate).toHaveBeenCalledWith('esk_unknown');
      expect(bans.recordFailure).toHaveBeenCalledTimes(1);
    });

    it('forbids a send-scoped key on a full-scope route without counting a failure', async () => {
      keys.authenticate.mockResolvedValue(sendKey);
      const { ctx } = contextFor('fullOnly', { authorization: 'Bearer esk_send' });
      await expect(guard.canActivate(ctx)).rejects.toBeInstanceOf(ForbiddenError);
      expect(bans.recordFailure).not.toHaveBeenCalled();
    });

    it('lets a send-scoped key call a send-scope route and attaches it to the request', async () => {
      keys.authenticate.mockResolvedValue(sendKey);
      const { ctx, req } = contextFor('sendAllowed', { authorization: 'Bearer esk_send' });
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(req.apiKey).toEqual(sendKey);
    });

    it('lets a full-scoped key call any route', async () => {
      keys.authenticate.mockResolvedValue(fullKey);
      for (const route of ['fullOnly', 'sendAllowed'] as const) {
        const { ctx } = contextFor(route, { authorization: 'Bearer esk_full' });
        await expect(guard.canActivate(ctx)).resolves.toBe(true);
      }
    });
  });
});
