import 'reflect-metadata';
import cluster from 'node:cluster';
import type { INestApplicationContext } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConfigError, loadConfigFromProcess, AppConfig } from 'src/config/app-config';
import { prepareInfrastructure, StartupError } from 'src/startup';
import { superviseDefaultStart } from 'src/supervisor';

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

/**
 * SIGTERM/SIGINT: stop accepting HTTP, let in-flight jobs finish, close pools, exit 0.
 * Bounded: past the timeout the process exits 1 rather than hang an orchestrator.
 */
function shutDownGracefullyOnSignals(app: INestApplicationContext, timeoutMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`email-sender: ${signal} received, shutting down\n`);
    setTimeout(() => {
      process.stderr.write(`email-sender: shutdown took over ${timeoutMs} ms, exiting\n`);
      process.exit(1);
    }, timeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`email-sender: error during shutdown: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const config = loadOrFail();
  // A child of the supervisor, which has migrated already (docs/ARCHITECTURE.md
  // "Processes and roles").
  const supervised = config.supervisorPid !== undefined && config.supervisorPid === process.ppid;
  if (!supervised) {
    try {
      await prepareInfrastructure(config);
    } catch (err) {
      if (err instanceof StartupError) fail(err.message);
      throw err;
    }
  }
  // Under another cluster manager (a cluster worker already), run the roles here.
  if (config.processes === 'supervised' && cluster.isPrimary) {
    process.exit(await superviseDefaultStart(config));
  }

  // Loaded here, not above: the supervisor stays small without Nest and the app's modules.
  // Relative paths: the build rewrites `src/` only in static imports.
  const { createHttpApp, createWorkerContext } = await import('./create-app');
  const { ApiKeysService } = await import('./modules/auth/api-keys.service');
  const roles = [...config.roles].join(',');
  const app = config.hasRole('api')
    ? await createHttpApp(config)
    : await createWorkerContext(config);
  shutDownGracefullyOnSignals(app, config.shutdownTimeoutMs);
  if (config.hasRole('api')) {
    const http = app as NestExpressApplication;
    // Outside production: 127.0.0.1 only unless HOST is set (README "Security").
    if (config.host) await http.listen(config.port, config.host);
    else await http.listen(config.port);
    const where = config.host
      ? `${config.host}:${config.port}${config.host === '127.0.0.1' ? ' (this machine only; set HOST=0.0.0.0 to listen on every interface)' : ''}`
      : `every interface, port ${config.port}`;
    process.stdout.write(
      `email-sender: serving ${config.publicUrl} on ${where} (roles ${roles}, transport ${config.mailTransport})\n`,
    );
    if (!config.isProduction) {
      const created = await app
        .get(ApiKeysService)
        .createFirstKeyIfNone('first key (auto-created)');
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
    await app.init();
    process.stdout.write(`email-sender: running roles ${roles}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`email-sender: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
