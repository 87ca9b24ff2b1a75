#!/usr/bin/env node
// Writes the OpenAPI document the API serves at /docs-json (README "API overview") without a
// database, Redis or a build: the application's module graph is created in Nest's preview mode
// (no provider is instantiated, nothing connects) from the TypeScript sources, and the document
// is built by the same function the server uses (src/common/http/openapi.ts).
//   node scripts/export-openapi.js [out.json]   (default: dist/openapi.json)
// `npm run lint` lints the result with redocly (redocly.yaml); the contract test
// (test/contract/) checks it equals what a running server serves.
const { mkdirSync, writeFileSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const root = join(__dirname, '..');
require('./ts-require-hook')([{ prefix: 'src/', dir: join(root, 'src') }]);
require('reflect-metadata');

async function main() {
  const out = resolve(process.argv[2] ?? join(root, 'dist', 'openapi.json'));
  const { NestFactory } = require('@nestjs/core');
  const { ExpressAdapter } = require('@nestjs/platform-express');
  const { loadConfig } = require('src/config/app-config');
  const { AppModule } = require('src/app.module');
  const { createExpressInstance } = require('src/create-app');
  const { buildOpenApiDocument } = require('src/common/http/openapi');
  // Nothing connects in preview mode; the configuration only shapes the module graph.
  const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });
  const app = await NestFactory.create(
    AppModule.forRoot(config),
    new ExpressAdapter(createExpressInstance()),
    { preview: true, logger: false, bodyParser: false, abortOnError: false },
  );
  const document = buildOpenApiDocument(app);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`openapi: wrote ${out}\n`);
  // Preview mode started nothing, so there is nothing to close (close() would call hooks
  // on providers that were never created).
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`openapi export failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
