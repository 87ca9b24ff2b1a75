import { INestApplicationContext, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import { Logger } from 'nestjs-pino';
import { AppModule } from 'src/app.module';
import { basicAuthMiddleware } from 'src/common/http/basic-auth';
import { configureHttpEdge } from 'src/common/http/http-edge';
import { buildOpenApiDocument } from 'src/common/http/openapi';
import { AppConfig } from 'src/config/app-config';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { httpAccess } from 'src/infra/logging/http-access';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import { OPERATOR_PATHS, operatorBanMiddleware } from 'src/modules/auth/operator-ban.middleware';
import { webhookIngestLane } from 'src/modules/webhooks/webhook-ingest-lane';
import { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

/** Swagger UI and the OpenAPI document. */
export const DOCS_PATHS = ['/docs', '/docs-json'];

/**
 * The Express instance under Nest. Routing is case-sensitive and strict (no trailing-slash
 * twin), so a path has one spelling: `/API/v1/send` or `/api/v1/batch/` is a 404, never the
 * route with the per-route checks skipped (README "Security"). Set before Nest's adapter
 * creates the router, which reads these settings once.
 */
export function createExpressInstance(): express.Express {
  const instance = express();
  instance.set('case sensitive routing', true);
  instance.set('strict routing', true);
  return instance;
}

export function setupSwagger(app: NestExpressApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Email Sender API',
  });
}

/**
 * An HTTP application (role `api`); also runs workers/schedulers when configured. Its routes are
 * registered by `init()` (or `listen()`), which then moves the hot ones first (`HotRoutesFirst`,
 * docs/ARCHITECTURE.md "Route order").
 */
export async function createHttpApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot(config),
    new ExpressAdapter(createExpressInstance()),
    {
      bodyParser: false,
      bufferLogs: true,
      abortOnError: false,
    },
  );
  app.useLogger(app.get(Logger));
  app.flushLogs();
  configureHttpEdge(app, config, {
    access: httpAccess(app.get(MetricsService)),
    webhook: webhookIngestLane({
      verifier: app.get(WebhookSignatureVerifier),
      webhooks: app.get(WebhooksService),
    }),
  });
  // In production the API docs and the metrics are operator pages too (README "Security").
  const protectedPaths = [
    ...OPERATOR_PATHS,
    ...(config.isProduction ? DOCS_PATHS : []),
    ...(config.isProduction || config.metricsToken ? ['/metrics'] : []),
  ];
  if (config.hasRole('api')) {
    app.use(protectedPaths, operatorBanMiddleware(app.get(AuthBanService)));
  }
  if (config.isProduction) {
    app.use(DOCS_PATHS, basicAuthMiddleware(config.admin.username, config.admin.password));
  }
  setupSwagger(app);
  return app;
}

/** A process without HTTP (roles `worker` and/or `scheduler` only). */
export async function createWorkerContext(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();
  return app;
}

export type { LogLevel };
