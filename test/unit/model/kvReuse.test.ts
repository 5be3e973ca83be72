// Reuse across keystrokes (docs/architecture.md, "Reuse across keystrokes"): how two canvases line up, keys moved
// to new positions by rotation, and the shipped model's decode taking rows from the last request's cache.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ort } from '../../../src/model/ort';
import { alignCanvases, joinRows, rotaryFrequencies } from '../../../src/model/kvReuse';
import { CachedDenoiser, defaultModelDir, loadModel, type LoadedModel } from '../../../src/model';
import { buildRequest, decode, DEFAULT_POLICY } from '../../../src/engine';
import type { Trace } from '../../../src/protocol';

const MODEL_DIR = defaultModelDir(path.resolve(__dirname, '..', '..', '..'));
const M = 3; // a mask id in these canvases

describe('reuse across keystrokes: aligning canvases', () => {
  it('a typed token: the prefix before it and the slots and suffix after it are found', () => {
    const prev = [10, 11, 12, 13, M, M, M, 20, 21];
    const next = [10, 11, 12, 13, 14, M, M, M, 20, 21];
    const a = alignCanvases(prev, next);
    assert.deepEqual(a, { head: 4, slide: 0, tail: 5, tailFrom: 4 });
  });

  it('a canvas cut to its room starts later as the prefix grows: the slide is found', () => {
    const prev = [10, 11, 12, 13, 14, M, M, 20];
    const next = [12, 13, 14, 15, M, M, 20];
    const a = alignCanvases(prev, next);
    assert.equal(a.slide, 2);
    assert.equal(a.head, 3);
    assert.equal(a.tail, 3);
  });

  it('a suffix cut shorter than before is matched from the slots, not from the end', () => {
    const prev = [10, 11, M, M, 20, 21, 22, 23];
    const next = [10, 11, 12, M, M, 20, 21];
    // end to end, 21 ≠ 23: nothing; from the slots' ends (4 in the old canvas, 5 in the new) the suffix lines up
    assert.equal(alignCanvases(prev, next).tail, 0);
    assert.deepEqual(alignCanvases(prev, next, { prev: 4, next: 5 }), { head: 2, slide: 0, tail: 2, tailFrom: 4 });
  });

  it('runs never overlap: a canvas of one repeated token is not counted twice', () => {
    const a = alignCanvases([7, 7, 7, 7], [7, 7, 7, 7, 7]);
    assert.ok(a.head + a.tail <= 4, JSON.stringify(a));
  });
});

describe('reuse across keystrokes: moving keys', () => {
  const kv = (rows: number) => {
    const data = Float32Array.from({ length: 2 * 2 * 1 * 2 * rows * 4 }, (_, i) => Math.sin(i * 1.7) * 3);
    return new ort.Tensor('float32', data, [2, 2, 1, 2, rows, 4]);
  };
  const freqs = rotaryFrequencies(10_000, 4);

  it('rows are copied in the order given; values are never rotated, keys are', () => {
    const t = kv(3);
    const joined = joinRows(
      [
        { kv: t, from: 2, count: 1, shift: 0 },
        { kv: t, from: 0, count: 2, shift: 5 },
      ],
      freqs,
    );
    assert.deepEqual(joined.dims, [2, 2, 1, 2, 3, 4]);
    const src = t.data as Float32Array;
    const out = joined.data as Float32Array;
    const at = (data: Float32Array, rows: number, layer: number, kind: number, head: number, row: number) =>
      Array.from(data.subarray((((layer * 2 + kind) * 2 + head) * rows + row) * 4, (((layer * 2 + kind) * 2 + head) * rows + row + 1) * 4));
    assert.deepEqual(at(out, 3, 1, 0, 1, 0), at(src, 3, 1, 0, 1, 2)); // unshifted key: copied
    assert.deepEqual(at(out, 3, 1, 1, 1, 1), at(src, 3, 1, 1, 1, 0)); // value: copied though shifted
    assert.notDeepEqual(at(out, 3, 1, 0, 1, 1), at(src, 3, 1, 0, 1, 0)); // key: rotated
  });

  it('moving a key by Δ and back by −Δ gives it back; rotations keep its length', () => {
    const t = kv(4);
    const there = joinRows([{ kv: t, from: 0, count: 4, shift: 37 }], freqs);
    const back = joinRows([{ kv: there, from: 0, count: 4, shift: -37 }], freqs);
    const a = t.data as Float32Array;
    const b = back.data as Float32Array;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4, `${i}: ${a[i]} vs ${b[i]}`);
  });
});

/** The share of slots whose top-1 after the first forward is the same in two traces of one canvas. */
function agreeing(a: Trace, b: Trace): number {
  const top = (t: Trace) =>
    new Map([...t.steps[0].unmasked.map((u) => [u.slot, u.token] as const), ...t.steps[0].pending.map(([s, tok]) => [s, tok] as const)]);
  const x = top(a);
  const y = top(b);
  return [...y].filter(([slot, token]) => x.get(slot) === token).length / y.size;
}

describe('reuse across keystrokes: the shipped model with the dual cache', function () {
  this.timeout(120_000);
  let reusing: LoadedModel;
  let fresh: LoadedModel;
  before(async () => {
    reusing = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 1, cache: true });
    fresh = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 1, cache: true });
  });
  after(async () => {
    await reusing?.dispose();
    await fresh?.dispose();
  });
  // a canvas of a few hundred tokens, as an editor's (the rule recomputes REUSE.margin rows on each side of the slots)
  const shapes = ['square', 'circle', 'triangle', 'hexagon', 'ellipse', 'rhombus', 'kite', 'trapezoid'];
  const typed =
    shapes.map((s, i) => `def perimeter_of_${s}(side, count=${i + 3}):\n    """The perimeter of a ${s}."""\n    return side * count\n\n`).join('') +
    'def area(width, height):\n    """The area of a rectangle."""\n    return width * he';
  const following = '\n\nprint(area(2, 3))\n';
  const ask = (text: string, reuse: boolean) => buildRequest({ before: text, after: following }, { policy: DEFAULT_POLICY, endOfTextPrediction: true, reuse });

  it('the manifest gives the rotary base, and a key moved by Δ is the key the graph computes Δ positions on', async () => {
    assert.ok(reusing.manifest.ropeTheta && reusing.manifest.ropeTheta > 1);
    const { graph, invFreq } = reusing.denoiser as CachedDenoiser;
    assert.ok(invFreq);
    const n = 40;
    const ids = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, (_, i) => BigInt(100 + ((i * 37) % 900))),
      [1, n],
    );
    const at0 = await graph.run({ ids, start: 0, positions: [5], withKv: true, copy: true });
    const at7 = await graph.run({ ids, start: 7, positions: [12], withKv: true, copy: true });
    const moved = joinRows([{ kv: at0.kv!, from: 0, count: n, shift: 7 }], invFreq).data as Float32Array;
    const want = at7.kv!.data as Float32Array;
    const unmoved = at0.kv!.data as Float32Array;
    let off = 0;
    let offUnmoved = 0;
    for (let i = 0; i < want.length; i++) {
      off = Math.max(off, Math.abs(moved[i] - want[i]));
      offUnmoved = Math.max(offUnmoved, Math.abs(unmoved[i] - want[i]));
    }
    // a shift of the whole canvas moves every key by a rotation and changes nothing else (relative positions)
    assert.ok(off < 0.05 && offUnmoved > 1, `moved keys off by ${off}, unmoved by ${offUnmoved}`);
  });

  it('a keystroke later the first forward takes most rows from the cache; without reuse, or after refreshEvery, none', async () => {
    const first = await decode(reusing, ask(typed, true));
    assert.equal(first.stats.reusedRows, undefined, 'nothing to reuse before the first request');
    const next = await decode(reusing, ask(typed + 'i', true));
    const rows = next.prefixTokens + next.suffixTokens + next.slots;
    assert.ok((next.stats.reusedRows ?? 0) >= rows / 2, `${next.stats.reusedRows} of ${rows} rows reused`);
    // the reused keys (the suffix's moved by the typed token's position) predict nearly what fresh keys do
    const base = await decode(fresh, ask(typed + 'i', false));
    const same = agreeing(next, base);
    assert.ok(same >= 0.8, `${Math.round(same * 100)}% of the first forward's top-1 agree with a fresh forward's`);
    const off = await decode(reusing, ask(typed + 'ig', false));
    assert.equal(off.stats.reusedRows, undefined);
  });

  it('the same canvas again: the reused decode predicts what the fresh one does', async () => {
    const request = ask(typed + 'igh', true);
    await decode(reusing, request);
    const again = await decode(reusing, request);
    const base = await decode(fresh, { ...request, reuse: false });
    assert.ok(again.stats.reusedRows, 'rows reused');
    // the reused rows are the very keys a fresh forward computes
    const same = agreeing(again, base);
    assert.ok(same >= 0.9, `${Math.round(same * 100)}% of the first forward's top-1 agree`);
  });

  it('the drift test: a reuse whose recomputed rows moved past maxDrift is refused, and the decode is the fresh one', async () => {
    const denoiser = reusing.denoiser as CachedDenoiser;
    await decode(reusing, ask(typed + 'h', false)); // a whole canvas: the count of reuses in a row starts again
    const measured = await decode(reusing, ask(typed + 'he', true));
    assert.ok(measured.stats.reusedRows, 'rows reused with the test off');
    const drift = denoiser.lastDrift;
    assert.ok(drift !== undefined && drift > 0 && drift < 1, `drift ${drift}: the rows next to the edit moved a little`);
    const refusedBefore = denoiser.stats.drifted;
    denoiser.maxDrift = 0;
    try {
      const refused = await decode(reusing, ask(typed + 'hei', true));
      assert.equal(refused.stats.reusedRows, undefined, 'nothing reused past the bound');
      assert.equal(denoiser.stats.drifted, refusedBefore + 1);
      const base = await decode(fresh, ask(typed + 'hei', false));
      assert.equal(refused.result.text, base.result.text);
      assert.deepEqual(
        refused.steps.map((st) => st.unmasked),
        base.steps.map((st) => st.unmasked),
      );
    } finally {
      denoiser.maxDrift = Infinity;
    }
  });
});
