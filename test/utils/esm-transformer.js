/**
 * Jest runs CommonJS, and Jest on Node 20 cannot `require()` ES modules. NestJS 12 (and a few
 * of its dependencies) ship ESM only, so they are compiled to CommonJS for the tests; Node
 * itself loads them natively (require(esm)) when the app runs.
 */
const babel = require('@babel/core');
const { createHash } = require('node:crypto');

const { pathToFileURL } = require('node:url');
const { dirname } = require('node:path');

// import.meta.url/dirname/filename become literals: files often declare their own
// `const require = createRequire(import.meta.url)`, which shadows CommonJS `require`.
function importMetaToCjs({ types: t }) {
  return {
    visitor: {
      MetaProperty(path) {
        if (path.node.meta.name !== 'import' || path.node.property.name !== 'meta') return;
        const parent = path.parentPath;
        if (!parent.isMemberExpression()) return;
        const prop = parent.node.property.name;
        const file = this.file.opts.filename;
        if (prop === 'url') parent.replaceWith(t.stringLiteral(pathToFileURL(file).href));
        else if (prop === 'dirname') parent.replaceWith(t.stringLiteral(dirname(file)));
        else if (prop === 'filename') parent.replaceWith(t.stringLiteral(file));
        else if (prop === 'resolve' && parent.parentPath.isCallExpression()) {
          // Only used to probe whether an optional package is installed.
          parent.replaceWith(t.memberExpression(t.identifier('require'), t.identifier('resolve')));
        }
      },
    },
  };
}

const ESM_SYNTAX =
  /^\s*(import\s*[{*'"]|import\s+[\w$]+\s*(,|\s+from\s)|export\s+(\{|\*|default\b|const\b|let\b|var\b|function\b|class\b|async\b))|import\.meta/m;

module.exports = {
  process(src, filename) {
    if (!ESM_SYNTAX.test(src)) return { code: src };
    const out = babel.transformSync(src, {
      filename,
      babelrc: false,
      configFile: false,
      sourceMaps: 'inline',
      plugins: [
        importMetaToCjs,
        '@babel/plugin-transform-dynamic-import',
        ['@babel/plugin-transform-modules-commonjs', { importInterop: 'node' }],
      ],
    });
    return { code: out.code };
  },
  getCacheKey(src, filename) {
    return createHash('sha256').update('esm-v5').update(filename).update(src).digest('hex');
  },
};
