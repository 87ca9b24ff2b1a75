// Lets plain Node `require` this repository's TypeScript: absolute imports (`src/…`, `test/…`,
// `bench/…`) resolve to the folders given, and `.ts` files are compiled on load with
// `ts.transpileModule` (no type-check: `npx tsc --noEmit -p tsconfig.json` does that).
// Used by register-paths.js (npm run bench) and template-worker-ts-loader.js (Jest's
// template worker threads).
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const ts = require('typescript');
const { join } = require('node:path');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  inlineSourceMap: true,
  isolatedModules: true,
};

/** @param {{ prefix: string, dir: string }[]} mapped */
module.exports = function installTsRequire(mapped) {
  const originalResolve = Module._resolveFilename;
  Module._resolveFilename = function resolve(request, parent, ...rest) {
    const fromOurs = !parent || !parent.filename || !parent.filename.includes('node_modules');
    if (fromOurs) {
      const m = mapped.find((p) => request.startsWith(p.prefix));
      if (m) request = join(m.dir, request.slice(m.prefix.length));
    }
    return originalResolve.call(this, request, parent, ...rest);
  };
  require.extensions['.ts'] = function compileTs(module, filename) {
    const source = readFileSync(filename, 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
    module._compile(outputText, filename);
  };
};
