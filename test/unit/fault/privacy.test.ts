// Nothing is written outside Unmask's own folders (reliability round 3, item 3). onnxruntime-node 1.30 writes a device
// id and an event database under ~/.cache/Microsoft/DeveloperTools/.onnxruntime unless its telemetry is off
// (src/model/ortEnv.ts). Each run gets a fresh HOME (and no XDG_* variables, so every per-user folder is under it);
// afterwards the HOME must hold nothing but what the command was asked to write.
// Against the code before the fix: both runs leave deviceid and onnxruntime.db under the fresh HOME.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCheckpoint } from '../convert/checkpointFixtures';
import { ROOT } from './helpers';

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** `node --import tsx SCRIPT ARGS` with HOME = `home`, the XDG folders unset and ORT_DISABLE_TELEMETRY not inherited. */
function runWithHome(home: string, script: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, USERPROFILE: home };
  for (const name of Object.keys(env)) if (name.startsWith('XDG_') || name === 'ORT_DISABLE_TELEMETRY') delete env[name];
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${script} failed:\n${r.stderr}`);
  return r;
}

describe('fault: no file written outside Unmask’s folders (onnxruntime telemetry off)', function () {
  this.timeout(120_000);
  let home: string;
  beforeEach(() => (home = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-home-'))));
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  for (const where of ['in process', 'through the model server'] as const) {
    it(`a completion ${where} writes nothing under a fresh HOME`, () => {
      const at = ['--file', 'examples/fibonacci.py', '--line', '9', '--col', '20', '--min-confidence', '0'];
      runWithHome(home, 'src/cli/complete.ts', where === 'in process' ? at : [...at, '--server']);
      assert.deepEqual(filesUnder(home), []);
    });
  }

  it('the converter writes only the folder it was asked for (and a completion from it nothing else)', () => {
    const ckpt = path.join(home, 'checkpoint');
    writeCheckpoint(ckpt, 'qwen2');
    const before = filesUnder(home);
    const out = path.join(home, 'converted');
    runWithHome(home, 'src/cli/convert.ts', [ckpt, '--out', out, '--precision', 'fp32']);
    runWithHome(home, 'src/cli/complete.ts', ['--model', out, '--file', 'examples/fibonacci.py', '--line', '9', '--col', '20', '--min-confidence', '0']);
    const written = filesUnder(home).filter((f) => !before.includes(f));
    assert.ok(written.length > 0, 'the converter wrote its folder');
    assert.deepEqual(
      written.filter((f) => !f.startsWith(`converted${path.sep}`)),
      [],
    );
  });
});
