import { ModulesContainer } from '@nestjs/core';
import { PostalClient, PostalUnavailableError } from 'src/infra/postal/postal.client';
import { FakePostal } from 'test/fakes/fake-postal';
import { bootTestApp, TestApp } from 'test/utils/test-app';

/**
 * PostalClient is one provider of the infra PostalModule (docs/ARCHITECTURE.md): one undici
 * connection pool per process, shared by the Postal transport and the Postal event reader,
 * and closed when the application shuts down.
 */
describe('PostalClient provider', () => {
  let postal: FakePostal;
  let t: TestApp | undefined;

  beforeAll(async () => {
    postal = await new FakePostal().start();
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await postal.stop();
  });

  /** Every PostalClient instance the Nest container holds, across all modules. */
  function instances(app: TestApp['app']): Set<PostalClient> {
    const found = new Set<PostalClient>();
    for (const mod of app.get(ModulesContainer).values()) {
      for (const wrapper of mod.providers.values()) {
        if (wrapper.instance instanceof PostalClient) found.add(wrapper.instance);
      }
    }
    return found;
  }

  const message = {
    to: ['ann@example.com'],
    from: 'news@shop.example',
    subject: 'Hi',
    plain_body: 'Hello',
  };

  it('is one instance per process, whose pool is closed on app shutdown', async () => {
    t = await bootTestApp({
      APP_ROLES: 'api,worker',
      MAIL_TRANSPORT: 'postal',
      POSTAL_URL: postal.url,
      POSTAL_API_KEY: postal.apiKey,
    });
    const all = instances(t.app);
    expect(all.size).toBe(1);
    const [client] = [...all];

    // Works while the app runs …
    await expect(client.sendMessage(message)).resolves.toEqual(
      expect.objectContaining({ messageId: expect.any(String) }),
    );

    const app = t;
    t = undefined;
    await app.close();

    // … and its connection pool is closed with the app: no request goes out any more.
    const before = postal.received.length;
    const err = await client.sendMessage(message).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PostalUnavailableError);
    expect((err as Error).message).toMatch(/closed|destroyed/i);
    expect(postal.received).toHaveLength(before);
  });
});
