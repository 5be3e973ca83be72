// training/export_pretrained.py on tiny random checkpoints of both families (Qwen2: tied, shifted; Llama: untied,
// unshifted), built by training/tiny_pretrained.py with no downloaded weights. The exports run through the project's
// own loader and engine in onnxruntime-node and are compared with transformers' Qwen2/Llama modules run with a full,
// non-causal attention mask (the reference the helper writes). Skips only when Python or its packages are missing
// (npm test installs them first: `bash training/install.sh`).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode } from '../../../src/engine/decode';
import { CachedDenoiser, loadModel, type LoadedModel } from '../../../src/model';
import type { CompleteRequest, Trace } from '../../../src/protocol';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FAMILIES = ['qwen2', 'llama'] as const;
const PYTHON = process.env.PYTHON ?? 'python3';

interface Reference {
  manifest: { logitsShift: number; tokens: { mask: number } };
  canvases: { ids: number[]; probs: number[][] }[];
  infill: { prefix: string; suffix: string; slots: number; ids: number[]; slotStart: number; probs: number[][] };
}

const argmax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

/** Each slot's top-1 and its probability at the decode's first forward (the step's unmasked and pending slots). */
function firstStep(trace: Trace): Map<number, [number, number]> {
  const step = trace.steps[0];
  const bySlot = new Map<number, [number, number]>();
  for (const u of step.unmasked) bySlot.set(u.slot, [u.token, u.p]);
  for (const [slot, token, p] of step.pending) bySlot.set(slot, [token, p]);
  return bySlot;
}

/** How many slots' first-step top-1 match the reference read at row slotStart + slot − shift (and the largest p error). */
function agreement(trace: Trace, ref: Reference['infill'], shift: number): { agree: number; maxDiff: number } {
  let agree = 0;
  let maxDiff = 0;
  for (const [slot, [token, p]] of firstStep(trace)) {
    const row = ref.probs[ref.slotStart + slot - shift];
    if (token === argmax(row)) agree++;
    maxDiff = Math.max(maxDiff, Math.abs(p - row[token]));
  }
  return { agree, maxDiff };
}

describe('pretrained export (tiny random Qwen2 and Llama checkpoints vs transformers)', function () {
  this.timeout(600_000);
  let dir = '';
  let reference: Record<string, Reference> & { errors?: Record<string, string> } = {};

  before(function () {
    const probe = spawnSync(PYTHON, ['-c', 'import torch, transformers, onnx, onnxruntime, safetensors, tokenizers'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.log(`      skipped: ${PYTHON} with torch, transformers, onnx, onnxruntime, safetensors and tokenizers is needed `
        + `(bash training/install.sh): ${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()}`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-pretrained-'));
    const run = spawnSync(PYTHON, [path.join(ROOT, 'training', 'tiny_pretrained.py'), dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`training/tiny_pretrained.py failed:\n${run.stderr.slice(-3000)}`);
    reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const family of FAMILIES) {
    describe(family, function () {
      let model: LoadedModel;
      let uncached: LoadedModel;
      before(async function () {
        if (!dir) this.skip();
        model = await loadModel(path.join(dir, family), { executionProvider: 'cpu', threads: 2 });
        uncached = await loadModel(path.join(dir, family), { executionProvider: 'cpu', threads: 2, cache: false });
      });
      after(async () => {
        await model?.dispose();
        await uncached?.dispose();
      });

      it('the fp32 graph agrees with transformers at every row: top-1 100%, probabilities within 1e-4', async () => {
        const ref = reference[family];
        let rows = 0;
        let maxDiff = 0;
        for (const c of [...ref.canvases, ref.infill]) {
          const positions = c.ids.map((_, i) => i);
          const preds = await uncached.denoiser.forward(c.ids, positions);
          preds.forEach((pred, row) => {
            assert.equal(pred.ids[0], argmax(c.probs[row]), `top-1 at row ${row} of a ${c.ids.length}-token canvas`);
            for (let k = 0; k < pred.ids.length; k++) maxDiff = Math.max(maxDiff, Math.abs(pred.probs[k] - c.probs[row][pred.ids[k]]));
            rows++;
          });
        }
        assert.ok(rows > 250, `${rows} rows compared`);
        assert.ok(maxDiff <= 1e-4, `largest probability difference ${maxDiff}`);
      });

      it('the engine reads each slot at row slot − logitsShift; the other shift would fail', async () => {
        const ref = reference[family].infill;
        const shift = reference[family].manifest.logitsShift;
        assert.equal(model.model.logitsShift, family === 'qwen2' ? 1 : 0);
        const request: CompleteRequest = { prefix: ref.prefix, suffix: ref.suffix, slots: ref.slots, singleLine: false,
          policy: { name: 'sequential' }, eotp: false };
        const trace = await decode(uncached, request);
        assert.equal(trace.prefixTokens, ref.slotStart, 'the engine tokenized the prefix as Python did');
        const right = agreement(trace, ref, shift);
        assert.equal(right.agree, ref.slots, 'every slot agrees with transformers at the right row');
        assert.ok(right.maxDiff <= 1e-4, `largest probability difference ${right.maxDiff}`);

        // the same folder with the other logitsShift: its first step disagrees with transformers' predictions
        const flipped = path.join(dir, `${family}-flipped`);
        fs.cpSync(path.join(dir, family), flipped, { recursive: true });
        const file = path.join(flipped, 'unmask.json');
        const m = JSON.parse(fs.readFileSync(file, 'utf8'));
        fs.writeFileSync(file, JSON.stringify({ ...m, logitsShift: 1 - shift }));
        const wrong = await loadModel(flipped, { executionProvider: 'cpu', threads: 2, cache: false });
        try {
          const wrongTrace = await decode(wrong, request);
          const w = agreement(wrongTrace, ref, shift);
          assert.ok(w.agree < ref.slots, `the wrong shift agreed on ${w.agree} of ${ref.slots} slots`);
        } finally {
          await wrong.dispose();
        }
      });

      it('dual cache: a step on a fresh cache answers as the full graph; refreshed every step it decodes identically', async () => {
        assert.ok(model.denoiser instanceof CachedDenoiser, 'the export has the dual cache');
        const cached = model.denoiser;
        const ref = reference[family].infill;
        const canvas = [...ref.ids];
        const positions = Array.from({ length: ref.slots }, (_, s) => ref.slotStart + s - reference[family].manifest.logitsShift);
        cached.beginBlock(Math.min(...positions), ref.slotStart + ref.slots);
        const first = await cached.forward(canvas, positions);
        const again = await cached.forward(canvas, positions); // same canvas: the step graph over the block, on a fresh cache
        assert.equal(cached.stats.steps, 1);
        const full = await uncached.denoiser.forward(canvas, positions);
        again.forEach((p, j) => {
          assert.deepEqual(Array.from(p.ids), Array.from(full[j].ids));
          assert.deepEqual(Array.from(first[j].ids), Array.from(full[j].ids));
          for (let k = 0; k < p.probs.length; k++) assert.ok(Math.abs(p.probs[k] - full[j].probs[k]) <= 1e-5);
        });

        const everyStep = new CachedDenoiser(cached.context, cached.step, model.manifest.topK, 'kv', model.model.tokens.mask, 0);
        for (const policy of [{ name: 'sequential' }, { name: 'threshold' }, { name: 'factor' }] as const) {
          const request: CompleteRequest = { prefix: ref.prefix, suffix: ref.suffix, slots: ref.slots, singleLine: false, policy, eotp: true };
          const a = await decode(uncached, request);
          const b = await decode({ ...model, denoiser: everyStep }, request);
          assert.deepEqual(b.slotTokens, a.slotTokens, `${policy.name}: same tokens`);
          assert.equal(b.result.text, a.result.text);
        }
      });

      it('dual cache: a window margin recomputes the stale rows next to the block (the whole canvas: a step after a commit answers as the full graph)', async () => {
        const cached = model.denoiser as CachedDenoiser;
        const ref = reference[family].infill;
        const positions = Array.from({ length: ref.slots }, (_, s) => ref.slotStart + s - reference[family].manifest.logitsShift);
        const largestDifference = async (windowMargin: number) => {
          const denoiser = new CachedDenoiser(cached.context, cached.step, model.manifest.topK, 'kv', model.model.tokens.mask, Infinity, windowMargin);
          const canvas = [...ref.ids];
          denoiser.beginBlock(Math.min(...positions), ref.slotStart + ref.slots);
          const first = await denoiser.forward(canvas, positions); // the refresh
          canvas[ref.slotStart] = first[reference[family].manifest.logitsShift].ids[0]; // slot 0 committed: the prefix's keys are stale now
          const step = await denoiser.forward(canvas, positions);
          assert.deepEqual(denoiser.stats, { refreshes: 1, steps: 1 });
          const full = await uncached.denoiser.forward(canvas, positions);
          let diff = 0;
          step.forEach((p, j) => Array.from(p.ids).forEach((id, k) => {
            const i = Array.from(full[j].ids).indexOf(id);
            diff = Math.max(diff, i < 0 ? 1 : Math.abs(p.probs[k] - full[j].probs[i]));
          }));
          return diff;
        };
        const blockOnly = await largestDifference(0);
        const wholeCanvas = await largestDifference(ref.ids.length);
        assert.ok(blockOnly > 1e-5, `the block-only step should see stale keys (largest difference ${blockOnly})`);
        assert.ok(wholeCanvas <= 1e-5, `recomputing every row should answer as the full graph (largest difference ${wholeCanvas})`);
      });

      it('dual cache: decodes with the cache refreshed once per block', async () => {
        const ref = reference[family].infill;
        const cached = model.denoiser as CachedDenoiser;
        let same = 0;
        const requests: CompleteRequest[] = [];
        for (const blockSize of [undefined, 4]) {
          for (const policy of [{ name: 'sequential' }, { name: 'threshold' }] as const) {
            requests.push({ prefix: ref.prefix, suffix: ref.suffix, slots: ref.slots, singleLine: false, policy, eotp: true,
              ...(blockSize ? { blockSize } : {}) });
          }
        }
        for (const request of requests) {
          const before = { ...cached.stats };
          const a = await decode(uncached, request);
          const b = await decode(model, request);
          const refreshes = cached.stats.refreshes - before.refreshes;
          const blocks = Math.ceil(ref.slots / (request.blockSize ?? ref.slots));
          assert.ok(refreshes <= blocks, `${refreshes} refreshes for ${blocks} blocks`);
          assert.equal(cached.stats.steps - before.steps + refreshes, b.stats.forwards);
          if (JSON.stringify(a.slotTokens) === JSON.stringify(b.slotTokens)) same++;
        }
        console.log(`      ${family}: cached decode identical to uncached on ${same} of ${requests.length} decodes`);
      });
    });
  }

  it('a graph over the protobuf limit keeps its weights in external data, and answers as the one-file graph', async function () {
    if (!dir) this.skip();
    const external = path.join(dir, 'qwen2-external'); // exported with the limit lowered to 200 kB
    assert.ok(fs.existsSync(path.join(external, 'model.onnx.data')) && fs.existsSync(path.join(external, 'step.onnx.data')));
    const a = await loadModel(external, { executionProvider: 'cpu', threads: 1, cache: false });
    const b = await loadModel(path.join(dir, 'qwen2-int8'), { executionProvider: 'cpu', threads: 1, cache: false });
    try {
      const c = reference.qwen2.infill;
      const positions = c.ids.map((_, i) => i);
      const [pa, pb] = [await a.denoiser.forward(c.ids, positions), await b.denoiser.forward(c.ids, positions)];
      pa.forEach((p, j) => assert.deepEqual(Array.from(p.probs), Array.from(pb[j].probs)));
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('a graph that answers NaN (a checkpoint with NaN weights) is refused at load, naming the graph', async function () {
    if (!dir) this.skip();
    await assert.rejects(loadModel(path.join(dir, 'qwen2-nan'), { executionProvider: 'cpu', threads: 1 }), (e: Error) => {
      assert.equal(e.name, 'ModelFolderError');
      assert.match(e.message, /model\.onnx: the graph answers probabilities or entropies that are not finite numbers/);
      return true;
    });
  });

  it('the exporter writes the vocabulary digest the loader checks; another tokenizer of the same size is refused', async function () {
    if (!dir) this.skip();
    const folder = path.join(dir, 'qwen2-retokenized');
    fs.cpSync(path.join(dir, 'qwen2'), folder, { recursive: true });
    const file = path.join(folder, 'tokenizer.json');
    const tok = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.match(JSON.parse(fs.readFileSync(path.join(folder, 'unmask.json'), 'utf8')).vocabDigest, /^sha256:[0-9a-f]{64}$/);
    const vocab = tok.model.vocab as Record<string, number>;
    const [a, b] = Object.keys(vocab).filter((t) => vocab[t] >= 300).slice(0, 2);
    [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
    fs.writeFileSync(file, JSON.stringify(tok));
    await assert.rejects(loadModel(folder, { executionProvider: 'cpu', threads: 1, cache: false }),
      /tokenizer\.json: its vocabulary is not the model's: .*field "vocabDigest"/);
  });

  it('refuses a checkpoint it cannot export, naming the field', function () {
    if (!dir) this.skip();
    const e = reference.errors!;
    assert.match(e.architecture, /config\.json: field "model_type" is "gpt2"/);
    assert.match(e.missingTokenizer, /tokenizer\.json: missing/);
    assert.match(e.missingWeights, /no \*\.safetensors file/);
    assert.match(e.dtype, /tensor "model\.layers\.0\.self_attn\.q_proj\.weight" has dtype I8/);
    assert.match(e.noMask, /no mask token: config\.json has no "mask_token_id"/);
  });
});
