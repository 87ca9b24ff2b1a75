// Preload for `npm run bench` (node -r ./scripts/register-paths.js bench/run.ts):
// - absolute imports `src/…` resolve to the built app in dist/src (what `npm start` runs);
// - `test/…` and `bench/…` resolve to the TypeScript sources, compiled on load with
//   `ts.transpileModule` (no type-check here: `npx tsc --noEmit -p tsconfig.json` does that).
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const ts = require('typescript');

const root = join(__dirname, '..');
const MAPPED = [
  { prefix: 'src/', dir: join(root, 'dist', 'src') },
  { prefix: 'test/', dir: join(root, 'test') },
  { prefix: 'bench/', dir: join(root, 'bench') },
];

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, parent, ...rest) {
  const fromOurs = !parent || !parent.filename || !parent.filename.includes('node_modules');
  if (fromOurs) {
    const m = MAPPED.find((p) => request.startsWith(p.prefix));
    if (m) request = join(m.dir, request.slice(m.prefix.length));
  }
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
