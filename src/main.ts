import 'reflect-metadata';
import { ConfigError, loadConfigFromProcess, AppConfig } from 'src/config/app-config';
import { createHttpApp, createWorkerContext } from 'src/create-app';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { prepareInfrastructure, StartupError } from 'src/startup';

function fail(message: string): never {
  process.stderr.write(`email-sender: ${message}\n`);
  process.exit(1);
}

function loadOrFail(): AppConfig {
  try {
    return loadConfigFromProcess();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadOrFail();
  try {
    await prepareInfrastructure(config);
  } catch (err) {
    if (err instanceof StartupError) fail(err.message);
    throw err;
  }

  // Bounded graceful shutdown: Nest closes HTTP, workers finish in-flight jobs, pools close.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        process.stderr.write(`email-sender: shutdown took over ${config.shutdownTimeoutMs} ms, exiting\n`);
        process.exit(1);
      }, config.shutdownTimeoutMs).unref();
    });
  }

  const roles = [...config.roles].join(',');
  if (config.hasRole('api')) {
    const app = await createHttpApp(config);
    await app.listen(config.port);
    process.stdout.write(
      `email-sender: serving ${config.publicUrl} (roles ${roles}, transport ${config.mailTransport})\n`,
    );
    if (!config.isProduction) {
      const created = await app.get(ApiKeysService).createFirstKeyIfNone('first key (auto-created)');
      if (created) {
        process.stdout.write(
          [
            '',
            'No API key existed, so one was created. It is shown only this once:',
            `  ${created.key}`,
            'Try it:',
            `  curl -s -X POST ${config.publicUrl}/api/v1/send -H "Authorization: Bearer ${created.key}" ` +
              `-H "Content-Type: application/json" -d '{"to":"ann@example.com","from":"me@example.com","subject":"Hello","text":"Hi Ann"}'`,
            `  curl -s ${config.publicUrl}/api/v1/status/<message_id> -H "Authorization: Bearer ${created.key}"`,
            '',
          ].join('\n') + '\n',
        );
      }
    }
  } else {
    await createWorkerContext(config);
    process.stdout.write(`email-sender: running roles ${roles}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`email-sender: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
