// ctest entry point: exits 77 (skipped) when the npm dependencies or the
// shared model are missing, otherwise runs the suite with node's test runner.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedPath } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', 'openai'))) {
  console.log('SKIP: run `npm ci --prefix tests/e2e` to install the openai client');
  process.exit(77);
}
if (!existsSync(sharedPath('models/stories260K.bin'))) {
  console.log('SKIP: shared model models/stories260K.bin not found');
  process.exit(77);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', join(here, 'server.test.mjs')], {
  stdio: 'inherit',
  timeout: 240000,
});
process.exit(r.status ?? 1);
