// The learned unmasking filter's policy: the decode loop computes the signals, asks the filter for a
// score per still-masked slot, and `learned` unmasks every slot at or above θ (at least the most confident one).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode, LEARNED_UNAVAILABLE, learned, type Candidate, type Decoder, type SlotFilter } from '../../../src/engine';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../../src/engine/signals';
import { defaultModelDir, loadModel } from '../../../src/model';
import type { CompleteRequest } from '../../../src/protocol';
import { charTokenizer, plan, ScriptedDenoiser, testModel, tok } from './scripted';

const PREFIX = 'x = f(';
const col = (name: (typeof FEATURE_NAMES)[number]) => FEATURE_NAMES.indexOf(name);

/** A stand-in filter: the score is the slot's top-1 probability, and every call is recorded. */
class EchoFilter implements SlotFilter {
  calls: Float32Array[] = [];
  async score(features: Float32Array, rows: number): Promise<Float32Array> {
    this.calls.push(features.slice());
    return Float32Array.from({ length: rows }, (_, j) => features[j * FEATURE_COUNT + col('p1')]);
  }
}

function request(slots: number): CompleteRequest {
  return { prefix: PREFIX, suffix: ')\n', slots, singleLine: true, policy: { name: 'learned', theta: 0.8 }, eotp: true };
}

describe('policy learned', () => {
  it('unmasks every slot the filter accepts, at least the most confident one', () => {
    const c = (slot: number, p: number, score: number): Candidate => ({ slot, token: 20, p, entropy: 1, score });
    assert.deepEqual(learned(0.8)([c(0, 0.5, 0.9), c(1, 0.9, 0.1), c(2, 0.2, 0.85)]).sort(), [0, 2]);
    assert.deepEqual(learned(0.8)([c(0, 0.5, 0.1), c(1, 0.9, 0.1)]), [1]);
  });

  it('decodes with the filter in the loop: its scores decide, and the trace carries them', async () => {
    const script = plan('ab', 4, [0.95, 0.3], 0.99);
    const filter = new EchoFilter();
    const decoder: Decoder = { denoiser: new ScriptedDenoiser(PREFIX.length, script), tokenizer: charTokenizer, model: testModel, filter };
    const trace = await decode(decoder, request(4));
    assert.equal(trace.result.text, 'ab');
    // step 1: only "a" (0.95) reaches θ = 0.8 among the real predictions; step 2: "b" alone; then the pads by EoTP
    assert.deepEqual(
      trace.steps.map((s) => s.unmasked.map((u) => u.slot)),
      [[0], [1, 2, 3]],
    );
    assert.equal(trace.steps[0].unmasked[0].score, 0.95);
    assert.equal(filter.calls.length, trace.steps.length);
    assert.equal(filter.calls[0].length, 4 * FEATURE_COUNT);
  });

  it('is refused with a clear message when the model folder has no filter', async () => {
    const decoder: Decoder = { denoiser: new ScriptedDenoiser(PREFIX.length, plan('ab', 4, 0.9, 0.9)), tokenizer: charTokenizer, model: testModel };
    await assert.rejects(decode(decoder, request(4)), (e: Error) => e.message === LEARNED_UNAVAILABLE && /files\.filter/.test(e.message));
  });

  it('computes the signals of every still-masked slot, step after step (onSignals)', async () => {
    // slot 1 changes its top-1 at the second forward
    const script = [
      { token: tok('a'), p: 0.9 },
      { token: tok('b'), p: (i: number) => (i === 0 ? 0.4 : 0.5) },
      { token: tok('c'), p: 0.3 },
    ];
    const denoiser = new ScriptedDenoiser(PREFIX.length, script);
    const seen: { step: number; slots: number[]; rows: Float32Array }[] = [];
    await decode(
      { denoiser, tokenizer: charTokenizer, model: testModel },
      { ...request(3), policy: { name: 'sequential' } },
      { onSignals: (step, candidates, rows) => seen.push({ step, slots: candidates.map((c) => c.slot), rows: rows.slice() }) },
    );
    assert.deepEqual(
      seen.map((s) => s.slots),
      [[0, 1, 2], [1, 2], [2]],
    );
    const row = (s: number, j: number) => seen[s].rows.subarray(j * FEATURE_COUNT, (j + 1) * FEATURE_COUNT);
    assert.ok(Math.abs(row(0, 0)[col('p1')] - 0.9) < 1e-6);
    assert.ok(Math.abs(row(0, 0)[col('margin')] - 0.8) < 1e-6); // 0.9 − 0.1
    assert.equal(row(0, 0)[col('leftDone')], 1); // the prefix
    assert.equal(row(0, 1)[col('leftDone')], 0);
    assert.equal(row(1, 0)[col('leftDone')], 1); // slot 0 committed at step 0
    assert.equal(row(1, 0)[col('changed')], 0);
    assert.equal(row(1, 0)[col('stable')], 2 / 8);
    assert.equal(row(0, 0)[col('stepFrac')], 0);
    assert.ok(Math.abs(row(1, 1)[col('stepFrac')] - 1 / 3) < 1e-6);
    assert.equal(row(2, 0)[col('rightDone')], 1); // the suffix
  });
});

describe('policy learned: the shipped filter graph', function () {
  this.timeout(60000);
  it('loads with the bundled model and scores in 0…1, one per row', async () => {
    const model = await loadModel(defaultModelDir(path.resolve(__dirname, '..', '..', '..')), { executionProvider: 'cpu', threads: 1 });
    try {
      assert.ok(model.filter, 'models/default has files.filter');
      const rows = Float32Array.from({ length: 3 * FEATURE_COUNT }, (_, i) => (i % 7) / 7);
      const s = await model.filter!.score(rows, 3);
      assert.equal(s.length, 3);
      assert.ok([...s].every((x) => x >= 0 && x <= 1));
      // a confident, stable slot with both neighbours committed scores above an unsure, changing one
      const sure = new Float32Array(FEATURE_COUNT);
      const unsure = new Float32Array(FEATURE_COUNT);
      Object.entries({
        p1: 0.98,
        margin: 0.97,
        entropy: 0.1,
        stable: 0.5,
        leftDone: 1,
        rightDone: 1,
        leftP: 1,
        rightP: 1,
        stepFrac: 0.5,
        maskedFrac: 0.3,
        singleLine: 1,
      }).forEach(([k, v]) => (sure[col(k as never)] = v));
      Object.entries({
        p1: 0.1,
        margin: 0.02,
        entropy: 5,
        changed: 1,
        stable: 0.125,
        leftP: 0.1,
        rightP: 0.1,
        maskedFrac: 1,
        fromFirstMasked: 0.5,
        blockPos: 0.5,
        singleLine: 1,
      }).forEach(([k, v]) => (unsure[col(k as never)] = v));
      const [a, b] = await model.filter!.score(Float32Array.from([...sure, ...unsure]), 2);
      assert.ok(a > b, `sure ${a} > unsure ${b}`);
    } finally {
      await model.dispose();
    }
  });

  it('a filter trained on other signals, or a file that is not a graph, is refused naming the field', async () => {
    const src = defaultModelDir(path.resolve(__dirname, '..', '..', '..'));
    for (const [edit, expected] of [
      [(m: { filterFeatures: string[] }, _d: string) => (m.filterFeatures = ['p1', 'margin']), /field "filterFeatures" is \[p1, margin\]/],
      [(_m: unknown, d: string) => fs.writeFileSync(path.join(d, 'broken.onnx'), 'not a graph'), /broken\.onnx: is not a loadable ONNX graph/],
    ] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-badfilter-'));
      for (const f of ['model.onnx', 'model.onnx.data', 'tokenizer.json', 'filter.onnx']) fs.symlinkSync(path.join(src, f), path.join(dir, f));
      const manifest = JSON.parse(fs.readFileSync(path.join(src, 'unmask.json'), 'utf8'));
      edit(manifest, dir);
      if (/broken/.test(String(expected))) manifest.files.filter = 'broken.onnx';
      fs.writeFileSync(path.join(dir, 'unmask.json'), JSON.stringify(manifest));
      try {
        await assert.rejects(loadModel(dir, { executionProvider: 'cpu', threads: 1 }), expected);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('a folder without files.filter still loads, without a filter', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-nofilter-'));
    const src = defaultModelDir(path.resolve(__dirname, '..', '..', '..'));
    for (const f of ['model.onnx', 'model.onnx.data', 'tokenizer.json']) fs.symlinkSync(path.join(src, f), path.join(dir, f));
    const manifest = JSON.parse(fs.readFileSync(path.join(src, 'unmask.json'), 'utf8'));
    delete manifest.files.filter;
    fs.writeFileSync(path.join(dir, 'unmask.json'), JSON.stringify(manifest));
    const model = await loadModel(dir, { executionProvider: 'cpu', threads: 1 });
    try {
      assert.equal(model.filter, undefined);
    } finally {
      await model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
