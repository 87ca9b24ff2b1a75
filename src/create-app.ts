import { INestApplicationContext, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from 'src/app.module';
import { configureHttpEdge } from 'src/common/http/http-edge';
import { AppConfig } from 'src/config/app-config';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { OPERATOR_PATHS, operatorBanMiddleware } from 'src/modules/auth/operator-ban.middleware';

export function setupSwagger(app: NestExpressApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Email Sender')
      .setDescription(
        'Send single emails and batches, manage templates, the suppression list, reports and ' +
          'rate control. Every error uses one shape: {"error": {"code", "message", "details"?}, "request_id"}.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: esk_…' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Email Sender API',
  });
}

/** An HTTP application (role `api`); also runs workers/schedulers when configured. */
export async function createHttpApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();
  configureHttpEdge(app, config);
  if (config.hasRole('api')) {
    app.use(OPERATOR_PATHS, operatorBanMiddleware(app.get(AuthBanService)));
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
