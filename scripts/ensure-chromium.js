#!/usr/bin/env node
// `npm test` runs the dashboard's browser tests in the system Chromium (playwright-core never
// downloads one). When it is missing and this machine can install Debian packages (root with
// apt-get), install it; otherwise say how, and let the browser tests report it.
const { execSync } = require('node:child_process');
const { existsSync } = require('node:fs');

const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (existsSync(path)) process.exit(0);

const canInstall =
  process.platform === 'linux' &&
  typeof process.getuid === 'function' &&
  process.getuid() === 0 &&
  existsSync('/usr/bin/apt-get');
if (!canInstall) {
  process.stderr.write(
    `Chromium not found at ${path}: the browser tests need it (apt-get install -y chromium, ` +
      'or set CHROMIUM_PATH).\n',
  );
  process.exit(0);
}
process.stderr.write('Chromium not found: installing the Debian package for the browser tests…\n');
try {
  execSync('apt-get update -qq && apt-get install -y -qq chromium', { stdio: 'inherit' });
} catch {
  process.stderr.write('Installing Chromium failed; the browser tests will say so.\n');
}
