// Issue 13: a pretrained-family export (a tiny random Qwen2 checkpoint, built and exported by
// training/tiny_pretrained.py, with the dual cache) loads as the model folder and completes. The point is that
// it loads and decodes, not what it says (random weights). Skips without Python and its packages.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bench, traces, typeOnNewLine } from './hooks';
import { waitFor } from './workbench';

const ROOT = path.resolve(__dirname, '..', '..');

describe('a pretrained export as the model folder', function () {
  this.timeout(600_000);
  let dir = '';
  before(function () {
    const probe = spawnSync('python3', ['-c', 'import torch, transformers, onnx, onnxruntime, safetensors'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.log('      skipped: python3 with torch, transformers, onnx, onnxruntime and safetensors is needed (bash training/install.sh)');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-editor-pretrained-'));
    const run = spawnSync('python3', [path.join(ROOT, 'training', 'tiny_pretrained.py'), dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`training/tiny_pretrained.py failed:\n${run.stderr.slice(-3000)}`);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a tiny Qwen2-family export loads through unmask.modelFolder and completes', async () => {
    const wb = bench();
    const folder = path.join(dir, 'qwen2');
    const name = JSON.parse(fs.readFileSync(path.join(folder, 'unmask.json'), 'utf8')).name as string;
    await waitFor(async () => /Unmask \S+ \(\w+\)/.test(await wb.statusText()), 'the bundled model to be loaded first', 60_000);
    await wb.setSetting('unmask.modelFolder', folder);
    try {
      await waitFor(async () => (await wb.statusText()).includes(name), `the status bar to show the export ${name} loaded`, 120_000);
      await wb.openFile('main.py');
      const before = traces().length;
      const trace = await typeOnNewLine('x = ', 'a completion from the exported model', 60_000);
      assert.ok(traces().length > before);
      assert.ok(trace.stats.forwards >= 1, `the exported model decoded (${trace.stats.forwards} forwards)`);
      assert.ok(!/error/i.test(trace.stoppedBy));
    } finally {
      await wb.setSetting('unmask.modelFolder', undefined);
      await waitFor(async () => (await wb.statusText()).includes('unmask-tiny-code'), 'the bundled model to be loaded again', 60_000);
    }
  });
});
