// convert() and `npm run convert`: a checkpoint folder becomes a model folder the loader accepts, all at once or not at
// all (a refusal, a failure or a cancellation leaves neither the folder nor a partial one), without Python.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { convert } from '../../../src/convert';
import { MANIFEST_FILE, parseManifest } from '../../../src/contract/manifest';
import { CodeTokenizer } from '../../../src/model/tokenizer';
import { loadModel } from '../../../src/model';
import { writeCheckpoint, type FixtureFamily, type FixtureOptions } from './checkpointFixtures';
import { CancelledError } from '../../../src/engine/types';

const ROOT = join(__dirname, '..', '..', '..', '.test-output', 'convert-orchestration');
let n = 0;
const checkpoint = (family: FixtureFamily, opts: FixtureOptions = {}) => {
  const dir = join(ROOT, `ckpt-${family}-${n++}`);
  writeCheckpoint(dir, family, opts);
  return dir;
};
const outDir = (name: string) => join(ROOT, 'models', `${name}-${n++}`);
/** Nothing of a conversion into `out` is left: not the folder, not a partial one beside it. */
const nothingLeft = (out: string) => {
  assert.equal(existsSync(out), false, `${out} exists`);
  const partial = existsSync(dirname(out)) ? readdirSync(dirname(out)).filter((f) => f.includes('.partial-')) : [];
  assert.deepEqual(partial, []);
};

before(() => {
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(join(ROOT, 'models'), { recursive: true });
});

describe('convert: the model folder', () => {
  it("writes the graph, the checkpoint's own tokenizer.json, a manifest the loader reads and a model card", async () => {
    const ckpt = checkpoint('unmask');
    const out = outDir('unmask');
    const steps: [number, number][] = [];
    const result = await convert(ckpt, out, { precision: 'fp32', name: 'tiny-unmask', onProgress: (d, t) => steps.push([d, t]) });
    assert.equal(result.folder, out);
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'model.onnx', 'model.onnx.data', 'tokenizer.json', 'unmask.json']);
    assert.deepEqual(readFileSync(join(out, 'tokenizer.json')), readFileSync(join(ckpt, 'tokenizer.json')));
    const manifest = parseManifest(readFileSync(join(out, MANIFEST_FILE), 'utf8'), MANIFEST_FILE);
    const tokenizer = new CodeTokenizer(JSON.parse(readFileSync(join(ckpt, 'tokenizer.json'), 'utf8')));
    assert.equal(manifest.name, 'tiny-unmask');
    assert.equal(manifest.vocabSize, tokenizer.vocabSize);
    assert.equal(manifest.vocabDigest, tokenizer.vocabDigest());
    assert.equal(manifest.logitsShift, 0);
    assert.equal(manifest.maxSequence, 256, "the checkpoint's max_position_embeddings");
    assert.equal(manifest.tokens.mask, tokenizer.vocabSize - 1);
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /family \| unmask, bidirectional attention[\s\S]*\| `model\.onnx\.data` \|/);
    // progress counts up to its total, which it reaches once, at the end
    assert.deepEqual(
      steps.map(([d]) => d),
      Array.from({ length: steps.length }, (_, i) => i + 1),
    );
    assert.ok(steps.every(([, t]) => t === steps.length));
    assert.equal(result.bytes['model.onnx.data'] > 0, true);

    const model = await loadModel(out, { executionProvider: 'cpu', threads: 1 });
    try {
      assert.equal(model.manifest.vocabSize, tokenizer.vocabSize);
    } finally {
      await model.dispose();
    }
  });

  it('shifts Qwen2-family logits and writes an added mask token into tokenizer.json', async () => {
    const ckpt = checkpoint('qwen2', { specials: ['<|endoftext|>'], spareRows: 3, dtype: 'BF16', shards: 2 });
    const out = outDir('qwen2');
    await convert(ckpt, out, { precision: 'fp32', maskToken: '<|mask|>' });
    const manifest = parseManifest(readFileSync(join(out, MANIFEST_FILE), 'utf8'), MANIFEST_FILE);
    const written = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8'));
    const mask = written.added_tokens.find((t: { content: string }) => t.content === '<|mask|>');
    assert.deepEqual([mask.id, mask.special], [manifest.tokens.mask, true]);
    assert.equal(manifest.logitsShift, 1);
    assert.equal(manifest.vocabSize, mask.id + 1, 'the two padding rows after it are left out');
    assert.equal(manifest.vocabDigest, new CodeTokenizer(written).vocabDigest());
    assert.equal(manifest.name, ckpt.split('/').pop());
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /The mask token "<\|mask\|>" was added to the tokenizer/);
  });
});

describe('convert: all or nothing', () => {
  it('refuses a bad checkpoint before writing anything', async () => {
    const ckpt = checkpoint('llada', { config: { clip_qkv: 8 } });
    const out = outDir('refused');
    await assert.rejects(convert(ckpt, out, { precision: 'fp32' }), /config\.json: field "clip_qkv" is 8/);
    nothingLeft(out);
  });

  it('cancelled while the weights are written, leaves no folder and no partial one', async () => {
    const ckpt = checkpoint('llama');
    const out = outDir('cancelled');
    const controller = new AbortController();
    await assert.rejects(
      convert(ckpt, out, {
        precision: 'fp32',
        signal: controller.signal,
        onProgress: (done) => {
          if (done === 2) controller.abort();
        }, // after the embedding, before the first layer
      }),
      (e: Error) => e instanceof CancelledError && e.name === 'Cancelled',
    );
    nothingLeft(out);
  });

  it('replaces an existing folder only when asked, and only once the new one is complete', async () => {
    const ckpt = checkpoint('llama');
    const out = outDir('existing');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'keep.txt'), 'mine');
    await assert.rejects(convert(ckpt, out, { precision: 'fp32' }), /already exists \(pass --force to replace it\)/);
    assert.equal(readFileSync(join(out, 'keep.txt'), 'utf8'), 'mine');
    // a folder of the user's is not replaced even when asked; a model folder (one that holds unmask.json) is
    await assert.rejects(convert(ckpt, out, { precision: 'fp32', replace: true }), /is not a model folder \(it has no unmask\.json\)/);
    assert.equal(readFileSync(join(out, 'keep.txt'), 'utf8'), 'mine');
    writeFileSync(join(out, MANIFEST_FILE), '{}');
    const bad = checkpoint('llama', { drop: ['model.norm.weight'] });
    await assert.rejects(convert(bad, out, { precision: 'fp32', replace: true }), /tensor "model\.norm\.weight" is missing/);
    assert.equal(readFileSync(join(out, 'keep.txt'), 'utf8'), 'mine', 'a failed conversion leaves the old folder as it was');
    await convert(ckpt, out, { precision: 'fp32', replace: true });
    assert.equal(existsSync(join(out, 'keep.txt')), false);
    assert.equal(existsSync(join(out, 'model.onnx')), true);
    assert.deepEqual(
      readdirSync(dirname(out)).filter((f) => f.includes('.old-') || f.includes('.partial-')),
      [],
    );
  });

  it("in place (a caller's staging folder): writes into the empty folder with no partial folder and no rename, and refuses one that is not empty", async () => {
    const ckpt = checkpoint('llama');
    const staging = outDir('staging');
    mkdirSync(staging, { recursive: true });
    const seen: string[] = [];
    await convert(ckpt, staging, {
      precision: 'fp32',
      inPlace: true,
      // while the weights are written, the files are already in the staging folder and nothing is beside it
      onProgress: (done) => {
        if (done === 2) seen.push(...readdirSync(dirname(staging)).filter((f) => f.includes('.partial-')), ...readdirSync(staging));
      },
    });
    assert.ok(seen.includes('model.onnx.data') || seen.includes('model.onnx'), `the graph is written in place: ${seen.join(', ')}`);
    assert.ok(!seen.some((f) => f.includes('.partial-')), 'no partial folder beside it');
    assert.deepEqual(readdirSync(staging).sort(), ['README.md', 'model.onnx', 'model.onnx.data', 'tokenizer.json', MANIFEST_FILE].sort());
    await (await loadModel(staging, { threads: 1 })).dispose();
    // a folder with anything in it is not written into, even one Unmask wrote
    await assert.rejects(convert(ckpt, staging, { precision: 'fp32', inPlace: true }), /is not an empty folder/);
    const mine = outDir('mine');
    mkdirSync(mine, { recursive: true });
    writeFileSync(join(mine, 'keep.txt'), 'mine');
    await assert.rejects(convert(ckpt, mine, { precision: 'fp32', inPlace: true }), /is not an empty folder/);
    assert.deepEqual(readdirSync(mine), ['keep.txt']);
  });

  it('refuses an unknown precision', async () => {
    await assert.rejects(
      convert(checkpoint('llama'), outDir('precision'), { precision: 'int3' as never }),
      /--precision: is "int3"; expected one of int8, int8nbits, int4, fp16, fp32/,
    );
  });
});

describe('npm run convert', () => {
  // node alone on the PATH: no python, no python3
  const bin = join(ROOT, 'bin');
  const env = { ...process.env, PATH: bin };
  before(() => {
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, 'node'));
  });
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [require.resolve('tsx/cli'), 'src/cli/convert.ts', ...args], { cwd: join(__dirname, '..', '..', '..'), env, encoding: 'utf8' });

  it('converts with no Python on the PATH and prints the folder', () => {
    assert.notEqual(spawnSync('python3', ['--version'], { env }).status, 0, 'python3 is still reachable');
    const ckpt = checkpoint('qwen2');
    const out = join(outDir('cli'), 'nested'); // a parent that does not exist yet is made
    const r = run(ckpt, '--out', out, '--precision', 'fp32');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), out);
    assert.match(r.stderr, /convert \[#+\] \d+\/\d+/);
    assert.equal(existsSync(join(out, 'model.onnx.data')), true);
  });

  it('exits 1 with the file and field on a bad checkpoint, and with usage when --out is missing', () => {
    const bad = checkpoint('llama', { config: { hidden_act: 'relu' } });
    const r = run(bad, '--out', outDir('cli-bad'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^convert: .*config\.json: field "hidden_act" is "relu"; only "silu"/m);
    assert.equal(r.stdout, '');
    const usage = run(bad);
    assert.equal(usage.status, 1);
    assert.match(usage.stderr, /usage: npm run convert -- CHECKPOINT_DIR --out MODEL_DIR/);
    const precision = run(bad, '--out', outDir('cli-p'), '--precision', 'int2');
    assert.equal(precision.status, 1);
    assert.match(precision.stderr, /--precision is "int2"; expected one of int8, int8nbits, int4, fp16, fp32/);
  });
});
