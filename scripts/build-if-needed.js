#!/usr/bin/env node
// `npm start` builds only when a source file is newer than the last build.
const { execSync } = require('node:child_process');
const { existsSync, readdirSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const stamp = join(root, 'dist', '.build-stamp');

function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(
  newest(join(root, 'src')),
  newest(join(root, 'migrations')),
  ...['package.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'].map((f) =>
    statSync(join(root, f)).mtimeMs,
  ),
);
if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
  process.stdout.write('email-sender: building…\n');
  execSync('npx nest build', { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, new Date().toISOString());
}
