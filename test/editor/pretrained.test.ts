// A converted pretrained-family checkpoint (a tiny random Qwen2 one made by training/tiny_checkpoints.py, converted by
// `npm run convert`, decoding with the dual cache) loads as the model folder and completes. The point is that it loads
// and decodes, not what it says (random weights). The checkpoint comes from test/unit/tinyCheckpoints.ts (built once,
// usually by the unit suite earlier in npm test); without Python and its packages this fails, it does not skip.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTinyCheckpoints } from '../unit/tinyCheckpoints';
import { bench, traces, typeOnNewLine } from './hooks';
import { waitFor } from './workbench';

const ROOT = path.resolve(__dirname, '..', '..');

describe('a converted pretrained checkpoint as the model folder', function () {
  this.timeout(600_000);
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-editor-pretrained-'));
    copyTinyCheckpoints(path.join(dir, 'checkpoints'), ['qwen2']);
    const converted = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        path.join(ROOT, 'src', 'cli', 'convert.ts'),
        path.join(dir, 'checkpoints', 'qwen2'),
        '--out',
        path.join(dir, 'qwen2'),
        '--precision',
        'fp32',
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (converted.status !== 0) throw new Error(`npm run convert failed:\n${converted.stderr.slice(-3000)}`);
    // decode with the dual cache, as a pretrained model should: the editor then runs the cached step too
    const manifest = path.join(dir, 'qwen2', 'unmask.json');
    fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(fs.readFileSync(manifest, 'utf8')), cache: {} }, null, 2));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a tiny converted Qwen2-family checkpoint loads through unmask.modelFolder and completes', async () => {
    const wb = bench();
    const folder = path.join(dir, 'qwen2');
    const name = JSON.parse(fs.readFileSync(path.join(folder, 'unmask.json'), 'utf8')).name as string;
    await waitFor(() => wb.modelReady(), 'the bundled model to be loaded first', 60_000);
    await wb.setSetting('unmask.modelFolder', folder);
    try {
      await waitFor(async () => (await wb.statusText()).includes(name), `the status bar to show the converted ${name} loaded`, 120_000);
      await wb.openFile('main.py');
      const before = traces().length;
      const trace = await typeOnNewLine('x = ', 'a completion from the converted model', 60_000);
      assert.ok(traces().length > before);
      assert.ok(trace.stats.forwards >= 1, `the converted model decoded (${trace.stats.forwards} forwards)`);
      assert.ok(!/error/i.test(trace.stoppedBy));
    } finally {
      await wb.setSetting('unmask.modelFolder', undefined);
      await waitFor(async () => (await wb.statusText()).includes('unmask-tiny-code'), 'the bundled model to be loaded again', 60_000);
    }
  });
});
