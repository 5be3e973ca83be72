// Draft-and-verify (src/engine/draft.ts) is lossless: over seeds, tasks and policies, with and without the dual cache,
// the text, the stop reason and the sequence of unmask sets (slots and tokens) equal the wrapped policy's; only the
// forwards change. The denoisers answer from a hash of the canvas, so drafts are sometimes right and sometimes wrong.
import * as assert from 'node:assert/strict';
import { decode, type Decoder } from '../../../src/engine';
import { chooseDraftWidth, draftSteps, draftWidth, DRAFT_PAYS } from '../../../src/engine/draft';
import { parseBenchPolicy } from '../../../src/bench/policyArg';
import { ort } from '../../../src/model/ort';
import { CachedDenoiser } from '../../../src/model/cachedDenoiser';
import type { ModelGraph, GraphRun } from '../../../src/model/modelGraph';
import type { CompleteRequest, Trace } from '../../../src/protocol';
import type { Denoiser, Prediction } from '../../../src/engine/types';
import { charTokenizer, MASK, PAD, testModel } from './scripted';
import { buildTraceView } from '../../../media/src/traceModel';

const VOCAB = 40;
const FIRST = 16 + 97; // 'a'

function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * A deterministic model: each position has a preferred token and confidence (from the seed), nudged by a hash of the
 * tokens around it, so committing a token sometimes changes its neighbours' top-1 and often their order.
 */
function predict(seed: number, tokens: ArrayLike<number>, pos: number, context = 0): Prediction {
  let h = mix(seed + context, pos);
  for (let i = Math.max(0, pos - 2); i <= Math.min(tokens.length - 1, pos + 2); i++) if (i !== pos) h = mix(h, tokens[i]);
  const base = mix(seed * 7 + 1, pos);
  const flip = h % 5 === 0;
  const pad = base % 4 === 0 && pos % 3 !== 0;
  const top = pad ? PAD : FIRST + ((flip ? h : base) % VOCAB);
  const p = 0.3 + ((base % 50) + (h % 20)) / 100;
  return { ids: [top, top === PAD ? FIRST : PAD], probs: [p, (1 - p) / 2], entropy: 1 - p };
}

class HashDenoiser implements Denoiser {
  forwards = 0;
  constructor(readonly seed: number) {}
  async forward(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    this.forwards++;
    return positions.map((p) => predict(this.seed, canvas, p));
  }
  async forwardBatch(canvases: readonly (readonly number[])[], positions: readonly number[]): Promise<Prediction[][]> {
    this.forwards++;
    return canvases.map((c) => positions.map((p) => predict(this.seed, c, p)));
  }
}

/**
 * A stand-in for the onnxruntime graph under the real CachedDenoiser: `kv` carries each computed row's token, its row
 * and a hash of the canvas it was computed in (headDim 3), and a step's predictions read the cached rows from `past`:
 * keys from another refresh than the reference's give other predictions, as a stale cache does in a real model.
 */
class FakeGraph {
  runs = 0;
  readonly kv = { layers: 1, kvHeads: 1, headDim: 3 };
  constructor(readonly seed: number) {}
  async run(r: GraphRun): Promise<{ predictions: Prediction[]; kv?: ort.Tensor }> {
    this.runs++;
    const [batch, q] = r.ids.dims;
    const ids = Array.from(r.ids.data as BigInt64Array, Number);
    const past = r.past ? (r.past.data as Float32Array) : new Float32Array(0);
    const p = r.past ? r.past.dims[4] : 0;
    const predictions: Prediction[] = [];
    for (let b = 0; b < batch; b++) {
      // the canvas as this row sees it: its rows, and the cached rows' tokens ([token, row, context]) from past
      const seen: number[] = [];
      let context = p ? past[((0 * batch + b) * p + 0) * 3 + 2] : canvasHash(ids.slice(b * q, (b + 1) * q));
      for (let i = 0; i < p; i++) {
        const at = ((0 * batch + b) * p + i) * 3;
        seen[past[at + 1]] = past[at];
        context = Math.min(context, past[at + 2]);
      }
      for (let i = 0; i < q; i++) seen[r.start + i] = ids[b * q + i];
      for (const pos of r.positions) predictions.push(predict(this.seed, seen, pos, context));
    }
    if (!r.withKv) return { predictions };
    const data = new Float32Array(2 * batch * q * 3);
    for (let two = 0; two < 2; two++)
      for (let b = 0; b < batch; b++) {
        const context = canvasHash(ids.slice(b * q, (b + 1) * q));
        for (let i = 0; i < q; i++) data.set([ids[b * q + i], r.start + i, context], ((two * batch + b) * q + i) * 3);
      }
    return { predictions, kv: new ort.Tensor('float32', data, [1, 2, batch, 1, q, 3]) };
  }
  pastWithout(kv: ort.Tensor, start: number, end: number): ort.Tensor {
    const rows = kv.dims[4];
    const keep = [...Array(rows).keys()].filter((i) => i < start || i >= end);
    const src = kv.data as Float32Array;
    const out = new Float32Array(2 * keep.length * 3);
    for (let two = 0; two < 2; two++)
      keep.forEach((r, j) => out.set(src.subarray((two * rows + r) * 3, (two * rows + r) * 3 + 3), (two * keep.length + j) * 3));
    return new ort.Tensor('float32', out, [1, 2, 1, 1, keep.length, 3]);
  }
  repeatPast(past: ort.Tensor, batch: number): ort.Tensor {
    const [, , , , p] = past.dims;
    const src = past.data as Float32Array;
    const out = new Float32Array(2 * batch * p * 3);
    for (let two = 0; two < 2; two++) for (let b = 0; b < batch; b++) out.set(src.subarray(two * p * 3, (two + 1) * p * 3), (two * batch + b) * p * 3);
    return new ort.Tensor('float32', out, [1, 2, batch, 1, p, 3]);
  }
  async release(): Promise<void> {}
}

/** A small hash of a canvas (exact in float32: under 2^24). */
function canvasHash(ids: readonly number[]): number {
  return ids.reduce((h, x) => mix(h, x), 1) % 4096;
}

const order = (t: Trace) => t.steps.map((s) => s.unmasked.map((u) => `${u.slot}:${u.token}`).join(','));
const PREFIXES = ['x = f(', 'def g(a, b):\n    return ', 'const y = [', ''];
const SUFFIXES = [')\n', '\nprint(g(1, 2))\n', '];', ''];

function request(i: number, policy: string, draft?: number): CompleteRequest {
  const p = parseBenchPolicy(policy);
  return {
    prefix: PREFIXES[i % PREFIXES.length],
    suffix: SUFFIXES[(i >> 1) % SUFFIXES.length],
    slots: 6 + (i % 11),
    singleLine: i % 3 !== 0,
    policy: p.spec,
    eotp: i % 4 !== 1,
    ...(i % 5 === 2 ? { blockSize: 4 } : {}),
    ...(draft ? { draft } : {}),
  };
}

const POLICIES = ['sequential', 'threshold:0.9', 'factor:2', 'entropy:0.5', 'fixed:2'];

describe('draft-and-verify: lossless', () => {
  for (const cached of [false, true]) {
    it(`gives the wrapped policy's text and unmasking order, with fewer forwards (${cached ? 'dual cache' : 'full forwards'})`, async () => {
      const make = (seed: number) => {
        if (!cached) {
          const d = new HashDenoiser(seed);
          return { denoiser: d as Denoiser, forwards: () => d.forwards, probe: 0 };
        }
        const g = new FakeGraph(seed);
        // a refresh rule that falls inside drafted runs (every 3 steps) and margins around the block
        // (its batchExact probe runs the graph 3 times, once per graph)
        return {
          denoiser: new CachedDenoiser(g as unknown as ModelGraph, MASK, seed % 2 ? 3 : Infinity, seed % 3) as Denoiser,
          forwards: () => g.runs,
          probe: 3,
        };
      };
      let plain = 0;
      let drafted = 0;
      let acceptedRows = 0;
      for (let seed = 1; seed <= 24; seed++) {
        for (const policy of POLICIES) {
          for (const k of [2, 4, 8]) {
            const i = seed * 7 + k;
            const a = make(seed);
            const b = make(seed);
            const ref = await decode({ denoiser: a.denoiser, tokenizer: charTokenizer, model: testModel } as Decoder, request(i, policy));
            const got = await decode({ denoiser: b.denoiser, tokenizer: charTokenizer, model: testModel } as Decoder, request(i, policy, k));
            const what = `seed ${seed}, ${policy}+draft${k}, task ${i}`;
            assert.deepEqual(order(got), order(ref), what);
            assert.equal(got.result.text, ref.result.text, what);
            assert.equal(got.result.stoppedBy, ref.result.stoppedBy, what);
            assert.deepEqual(got.slotTokens, ref.slotTokens, what);
            assert.equal(got.stats.forwards + b.probe, b.forwards(), what);
            assert.ok(got.stats.forwards <= ref.stats.forwards, what);
            assert.equal(got.steps.filter((s) => !s.drafted).length, got.stats.forwards, what);
            plain += a.forwards();
            drafted += b.forwards() - b.probe;
            acceptedRows += got.steps.filter((s) => s.drafted).length;
          }
        }
      }
      if (process.env.DRAFT_STATS) console.log({ plain, drafted, acceptedRows });
      // the test means something only if drafts are both accepted and rejected
      assert.ok(acceptedRows > 100, `accepted ${acceptedRows}`);
      assert.ok(drafted < plain * 0.9, `forwards ${plain} → ${drafted}`);
    });
  }

  it('the trace marks batched forwards and accepted drafts, and the visualizer reads them', async () => {
    const t = await decode({ denoiser: new HashDenoiser(5), tokenizer: charTokenizer, model: testModel } as Decoder, request(12, 'sequential', 4));
    const view = buildTraceView(t);
    assert.ok(view.steps.some((s) => s.drafted));
    assert.ok(view.steps.some((s) => s.batch > 1));
    assert.deepEqual(
      view.steps.map((s) => s.drafted),
      t.steps.map((s) => s.drafted === true),
    );
  });

  it('drafts stop before a stop and before the next block', () => {
    const candidates = [0, 1, 2, 3, 4, 5].map((slot) => ({ slot, token: FIRST + slot, p: 0.5 + slot / 100, entropy: 0.1 }));
    const seq = (cands: readonly { slot: number; p: number }[]) => ({ unmask: [[...cands].sort((x, y) => y.p - x.p)[0].slot] });
    const slotTokens = Array(6).fill(-1);
    const full = draftSteps({ candidates, slotTokens, steps: 10, blockSize: 6, decide: seq });
    assert.deepEqual(
      full.map((d) => d.step.unmask[0]),
      [5, 4, 3, 2, 1],
    );
    const blocks = draftSteps({ candidates, slotTokens, steps: 10, blockSize: 3, decide: (c) => ({ unmask: [Math.min(...c.map((x) => x.slot))] }) });
    assert.deepEqual(
      blocks.map((d) => d.step.unmask[0]),
      [0, 1],
    );
    assert.equal(draftSteps({ candidates, slotTokens, steps: 10, blockSize: 6, decide: () => ({ unmask: [0], stop: 'eotp' }) }).length, 0);
  });

  it('parses +draftK and +draft, and a width of 1 or an inexact batch leaves the decode as it was', async () => {
    assert.equal(parseBenchPolicy('sequential+draft4').draft, 4);
    assert.equal(parseBenchPolicy('threshold:0.9+noeotp+draft').draft, 'auto');
    assert.equal(parseBenchPolicy('factor:2+draft4').family, 'factor');
    assert.throws(() => parseBenchPolicy('sequential+draft0'), /draft/);
    assert.equal(draftWidth('auto', undefined), 1);
    assert.equal(draftWidth('auto', 3), 3);
    assert.equal(draftWidth(99, undefined), 16);
    const inexact = new HashDenoiser(3) as HashDenoiser & { batchExact?: () => Promise<boolean> };
    inexact.batchExact = async () => false;
    const t = await decode({ denoiser: inexact, tokenizer: charTokenizer, model: testModel } as Decoder, request(5, 'sequential', 4));
    assert.equal(t.policy.draft, 1);
    assert.match(String(t.policy.draftOff), /differ/);
    assert.ok(t.steps.every((s) => !s.drafted && !s.batch));
  });

  it("+draft's K is the widest batch that costs at most DRAFT_PAYS times one forward, 1 where none does (a CPU)", () => {
    // this project's CPU: a batch costs about as much as its rows
    assert.equal(
      chooseDraftWidth([
        { batch: 1, ms: 70 },
        { batch: 2, ms: 135 },
        { batch: 4, ms: 270 },
      ]),
      1,
    );
    // a GPU: the batch is nearly free
    assert.equal(
      chooseDraftWidth([
        { batch: 1, ms: 10 },
        { batch: 2, ms: 10.5 },
        { batch: 4, ms: 11 },
      ]),
      4,
    );
    assert.equal(
      chooseDraftWidth([
        { batch: 1, ms: 10 },
        { batch: 2, ms: 10 * DRAFT_PAYS },
        { batch: 4, ms: 30 },
      ]),
      2,
    );
    assert.equal(chooseDraftWidth([]), 1, 'nothing measured: off');
    assert.equal(
      draftWidth(
        'auto',
        chooseDraftWidth([
          { batch: 1, ms: 10 },
          { batch: 4, ms: 11 },
        ]),
      ),
      4,
    );
  });
});
