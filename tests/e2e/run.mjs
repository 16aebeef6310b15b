// ctest entry point: `run.mjs [server|browser]` exits 77 (skipped) when the
// suite's npm dependencies, Chromium (browser) or the shared model are
// missing, otherwise runs the suite with node's test runner.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedPath } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const suite = process.argv[2] || 'server';
const needs = {
  server: { module: 'openai', file: 'server.test.mjs' },
  browser: { module: 'playwright-core', file: 'browser.test.mjs' },
}[suite];
if (!needs) {
  console.error(`unknown suite ${suite}: use server or browser`);
  process.exit(2);
}
const skip = (why) => {
  console.log(`SKIP: ${why}`);
  process.exit(77);
};
if (!existsSync(join(here, 'node_modules', needs.module)))
  skip(`run \`npm ci --prefix tests/e2e\` to install ${needs.module}`);
if (suite === 'browser' && !existsSync(process.env.RZ_CHROMIUM || '/usr/bin/chromium'))
  skip('Chromium not found: `apt-get install chromium` (or set RZ_CHROMIUM)');
if (!existsSync(sharedPath('models/stories260K.bin'))) skip('shared model models/stories260K.bin not found');
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', join(here, needs.file)], {
  stdio: 'inherit',
  timeout: 240000,
});
process.exit(r.status ?? 1);
