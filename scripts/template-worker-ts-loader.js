// Preloaded into template worker threads (src/modules/templates/template-pool.ts) only when the
// app runs from its TypeScript sources (Jest): a worker thread is plain Node, which cannot load
// .ts files or resolve `src/…`. The built app (dist/) starts the compiled template.worker.js
// and never loads this file.
const { join } = require('node:path');

require('./ts-require-hook')([{ prefix: 'src/', dir: join(__dirname, '..', 'src') }]);
