// Preloaded into template worker threads (src/modules/templates/template-pool.ts) only when the
// app runs from its TypeScript sources (Jest): a worker thread is plain Node, which cannot load
// .ts files or resolve `src/…`. The built app (dist/) starts the compiled template.worker.js
// and never loads this file.
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const ts = require('typescript');

const root = join(__dirname, '..');

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, parent, ...rest) {
  const fromOurs = !parent || !parent.filename || !parent.filename.includes('node_modules');
  if (fromOurs && request.startsWith('src/')) request = join(root, request);
  return originalResolve.call(this, request, parent, ...rest);
};

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  inlineSourceMap: true,
  isolatedModules: true,
};

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};
