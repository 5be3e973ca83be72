// The one graph of a model folder (docs/model-contract.md, "Graph") on the shipped model: one session answers the
// full forward and the cached step, the step's past is the refresh's keys and values without the window's rows.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ort } from '../../../src/model/ort';
import { CachedDenoiser, defaultModelDir, loadModel, ModelGraph, OnnxDenoiser, type LoadedModel } from '../../../src/model';

const MODEL_DIR = defaultModelDir(path.resolve(__dirname, '..', '..', '..'));

describe('model: one graph for the full forward and the cached step', function () {
  this.timeout(60_000);
  let plain: LoadedModel;
  let cached: LoadedModel;
  before(async () => {
    plain = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 1, cache: false });
    cached = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 1, cache: true });
  });
  after(async () => {
    await plain?.dispose();
    await cached?.dispose();
  });

  it('LoadOptions.cache picks the denoiser; the shipped manifest has no cache, so by default it decodes uncached', async () => {
    assert.ok(plain.denoiser instanceof OnnxDenoiser);
    assert.ok(cached.denoiser instanceof CachedDenoiser);
    assert.equal(plain.manifest.cache, undefined);
    const byDefault = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 1 });
    try {
      assert.ok(byDefault.denoiser instanceof OnnxDenoiser);
    } finally {
      await byDefault.dispose();
    }
  });

  it("the graph's past_kv sizes are read from the graph: the bundled model's 4 layers, 4 heads of 64", () => {
    assert.deepEqual((cached.denoiser as CachedDenoiser).graph.kv, { layers: 4, kvHeads: 4, headDim: 64 });
  });

  it('a refresh answers as the full forward, and a step on a fresh cache gives its top-1 tokens', async () => {
    const { mask } = plain.model.tokens;
    const before = plain.tokenizer.encode('def fib(n):\n    if n < 2:\n        return n\n    return ');
    const after = plain.tokenizer.encode('\n\nprint(fib(10))\n');
    const canvas = [...before, ...Array<number>(8).fill(mask), ...after];
    const positions = Array.from({ length: 8 }, (_, i) => before.length + i);
    const full = await plain.denoiser.forward(canvas, positions);
    const c = cached.denoiser as CachedDenoiser;
    c.stats.refreshes = c.stats.steps = 0;
    c.beginBlock(positions[0], positions[7] + 1);
    const refresh = await c.forward(canvas, positions);
    const step = await c.forward(canvas, positions);
    assert.deepEqual(c.stats, { refreshes: 1, steps: 1, reusing: 0, drifted: 0 });
    for (let i = 0; i < positions.length; i++) {
      assert.deepEqual(Array.from(refresh[i].ids), Array.from(full[i].ids));
      assert.ok(Math.abs(refresh[i].probs[0] - full[i].probs[0]) < 1e-6);
      // int8 weights with activations quantized per run: the window's own rows give other scales, so only top-1 is equal
      assert.equal(step[i].ids[0], full[i].ids[0], `row ${positions[i]}`);
    }
  });

  it('pastWithout keeps every row outside the window, in order, for every layer, key/value and head', () => {
    const graph = new ModelGraph((plain.denoiser as OnnxDenoiser).graph.session, 8, { layers: 2, kvHeads: 3, headDim: 2 });
    const rows = 5;
    const blocks = 2 * 2 * 3;
    // value = block * 100 + row * 10 + d: each kept number says where it came from
    const data = new Float32Array(blocks * rows * 2).map((_, i) => Math.floor(i / (rows * 2)) * 100 + Math.floor((i % (rows * 2)) / 2) * 10 + (i % 2));
    const past = graph.pastWithout(new ort.Tensor('float32', data, [2, 2, 1, 3, rows, 2]), 1, 3);
    assert.deepEqual(past.dims, [2, 2, 1, 3, 3, 2]);
    const got = past.data as Float32Array;
    for (let b = 0; b < blocks; b++) {
      assert.deepEqual(
        Array.from(got.subarray(b * 6, b * 6 + 6)),
        [0, 1, 30, 31, 40, 41].map((x) => b * 100 + x),
      );
    }
  });
});
