// Mocha's global setup for the unit suite (required by test/unit/.mocharc.json): builds the bundles once per run
// with esbuild.js, as the extension ships them, so that the tests fork dist/server.js and dist/installWorker.js as
// the extension does, instead of each fork loading the sources through tsx (2.2 s a fork against 0.8 s).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export function mochaGlobalSetup(): void {
  const built = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.js')], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node esbuild.js failed (the tests fork its dist/server.js):\n${built.stderr}${built.error?.message ?? ''}`);
}
