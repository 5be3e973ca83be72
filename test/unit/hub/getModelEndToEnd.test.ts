// Get Model end to end against the fake Hub on 127.0.0.1: a tiny random Qwen2-family checkpoint in the Hub's layout
// (training/tiny_checkpoints.py: sharded bf16 safetensors with an index, config.json, tokenizer.json) is downloaded,
// converted by src/convert and checked; `npm run get-model` prints the folder and `npm run complete --model` uses it.
// The extension's path, the install step in a child process, is run here too. Skips without Python and torch.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getModel, type GetModelProgress } from '../../../src/hub/getModel';
import { hubCacheDir } from '../../../src/hub/hfCache';
import { forkInstaller } from '../../../src/hub/forkInstallWorker';
import { FakeHub, ROOMY, run, writeTinyQwen2 } from './fakeHub';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const REPO = 'tiny-org/tiny-qwen2';
const COMMIT = 'c'.repeat(40);
const roomy = ROOMY;

describe('get model end to end (real converter)', function () {
  this.timeout(300_000);
  let tmp = '';
  let hub: FakeHub;
  let endpoint = '';

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-getmodel-e2e-'));
    const qwen2 = writeTinyQwen2(path.join(tmp, 'hub'));
    hub = new FakeHub();
    hub.repos.set(REPO, { dir: qwen2, commit: COMMIT });
    endpoint = await hub.start();
  });
  after(async () => {
    await hub?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('npm run get-model OWNER/REPO downloads, converts and prints the folder; npm run complete --model completes with it', async () => {
    const storage = path.join(tmp, 'cli-storage');
    const got = await run('npm', ['run', '-s', 'get-model', '--', REPO, '--storage', storage], { cwd: ROOT, env: { ...process.env, HF_ENDPOINT: endpoint } });
    assert.equal(got.status, 0, got.stderr);
    const folder = got.stdout.trim();
    assert.equal(folder, path.join(storage, 'models', 'tiny-qwen2-int8'));
    for (const f of ['model.onnx', 'model.onnx.data', 'tokenizer.json', 'unmask.json', 'origin.json']) assert.ok(fs.existsSync(path.join(folder, f)), f);
    const origin = JSON.parse(fs.readFileSync(path.join(folder, 'origin.json'), 'utf8'));
    assert.deepEqual([origin.repo, origin.commit, origin.precision], [REPO, COMMIT, 'int8']);
    assert.match(got.stderr, /download \[#+\] 3\d\d kB \/ 3\d\d kB/, 'the progress bar reached the whole download');
    assert.ok(
      fs.existsSync(path.join(hubCacheDir(), 'models--tiny-org--tiny-qwen2', 'snapshots', COMMIT, 'config.json')),
      'the checkpoint stays in the shared cache',
    );

    const completed = await run(
      'npm',
      ['run', '-s', 'complete', '--', '--model', folder, '--file', 'examples/fibonacci.py', '--line', '9', '--col', '20', '--json'],
      { cwd: ROOT },
    );
    assert.equal(completed.status, 0, completed.stderr);
    const trace = JSON.parse(completed.stdout);
    assert.equal(trace.model, 'tiny-qwen2-int8');
    assert.ok(trace.stats.forwards >= 1 && trace.steps.length === trace.stats.forwards, `${trace.stats.forwards} forwards`);
  });

  it("the extension's way: the install step in a child process, and a cancel during conversion leaves no model folder", async () => {
    const storage = path.join(tmp, 'fork-storage');
    const install = forkInstaller(path.join(ROOT, 'dist', 'installWorker.js'));
    const controller = new AbortController();
    const phases: string[] = [];
    await assert.rejects(
      getModel({
        source: REPO,
        storageDir: storage,
        endpoint,
        machine: roomy,
        install,
        signal: controller.signal,
        onProgress: (p: GetModelProgress) => {
          phases.push(p.phase);
          if (p.phase === 'convert') controller.abort();
        },
      }),
      (e: Error) => e.name === 'Cancelled',
    );
    assert.ok(phases.includes('convert'));
    assert.deepEqual(fs.readdirSync(path.join(storage, 'models')), [], 'neither a model folder nor a staging folder');
    assert.ok(fs.existsSync(path.join(hubCacheDir(), 'models--tiny-org--tiny-qwen2', 'snapshots', COMMIT, 'config.json')), 'the download is kept');

    const before = hub.log.length;
    const got = await getModel({ source: REPO, storageDir: storage, endpoint, machine: roomy, install, onProgress: (p) => phases.push(p.phase) });
    assert.equal(hub.log.slice(before).filter((l) => l.path.includes('/resolve/')).length, 0, 'nothing downloaded twice');
    assert.ok(phases.includes('check'), 'the smoke forward ran');
    assert.ok(fs.existsSync(path.join(got.folder, 'model.onnx')));
  });
});
