// Preload for `npm run bench` (node -r ./scripts/register-paths.js bench/run.ts):
// - absolute imports `src/…` resolve to the built app in dist/src (what `npm start` runs);
// - `test/…` and `bench/…` resolve to the TypeScript sources, compiled on load with
//   `ts.transpileModule` (no type-check here: `npx tsc --noEmit -p tsconfig.json` does that).
const { join } = require('node:path');

const root = join(__dirname, '..');
require('./ts-require-hook')([
  { prefix: 'src/', dir: join(root, 'dist', 'src') },
  { prefix: 'test/', dir: join(root, 'test') },
  { prefix: 'bench/', dir: join(root, 'bench') },
]);
