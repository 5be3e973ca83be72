// The converter's graph against independent forwards: transformers' Qwen2/Llama modules with an all-True 4-D
// attention mask (Dream through Qwen2, LLaDA's names through Llama) and training/model.py's Denoiser for the bundled
// family, run by training/parity_reference.py on the tiny checkpoints of training/tiny_checkpoints.py, read by the
// converter's own reader. npm test installs the Python side first, so these run there; without Python they fail.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ort } from '../../../src/model/ort';
import { openCheckpoint, type Checkpoint } from '../../../src/convert/checkpoint';
import { buildGraph } from '../../../src/convert/graph';
import { PRECISIONS, type Precision } from '../../../src/contract/precision';
import { distribution, normal, python, pythonCode, referenceLogits, ROOT, runGraph, selectRows } from './parityFixtures';
import { copyTinyCheckpoints } from '../tinyCheckpoints';

const FAMILIES = ['qwen2', 'dream', 'llama', 'llada', 'unmask'] as const;
type Family = (typeof FAMILIES)[number];

function canvas(rand: () => number, length: number, vocab: number): number[] {
  return Array.from({ length }, () => Math.floor(Math.abs(rand() * 1e6)) % vocab);
}

async function session(ckpt: Checkpoint, precision: Precision, work: string, name: string): Promise<ort.InferenceSession> {
  const graphFile = path.join(work, `${name}-${precision}`, 'model.onnx');
  fs.mkdirSync(path.dirname(graphFile), { recursive: true });
  await buildGraph(ckpt.spec, ckpt.tensors, { precision, graphFile });
  return ort.InferenceSession.create(graphFile, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

describe('converter graph: parity with transformers and model.py (tiny checkpoints of each family)', function () {
  this.timeout(300_000);
  let work = '';
  const checkpoints = new Map<Family, Checkpoint>();
  const canvases = new Map<Family, number[][]>();
  const reference = new Map<Family, Float32Array[][]>();
  const fp32 = new Map<Family, ort.InferenceSession>();

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-parity-'));
    copyTinyCheckpoints(work);
    const rand = normal(11);
    for (const family of FAMILIES) {
      const ckpt = await openCheckpoint(path.join(work, family));
      checkpoints.set(family, ckpt);
      const V = ckpt.spec.vocabSize;
      // three lengths, and two canvases of one length for the batch
      canvases.set(family, [canvas(rand, 40, V), canvas(rand, 96, V), canvas(rand, 64, V), canvas(rand, 64, V)]);
    }
    const logits = referenceLogits(
      FAMILIES.map((f) => ({ dir: checkpoints.get(f)!.dir, canvases: canvases.get(f)! })),
      work,
    );
    FAMILIES.forEach((f, j) => reference.set(f, logits[j]));
    for (const f of FAMILIES) fp32.set(f, await session(checkpoints.get(f)!, 'fp32', work, f));
  });
  after(async () => {
    for (const s of fp32.values()) await s.release();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  for (const family of FAMILIES) {
    describe(family, () => {
      it('fp32: top-1 identical to the reference at every row; top-K probabilities and entropy within 1e-4', async () => {
        const t = checkpoints.get(family)!;
        let rows = 0;
        let worst = 0;
        for (const [c, ids] of canvases.get(family)!.entries()) {
          const all = ids.map((_, i) => i);
          const a = await runGraph(fp32.get(family)!, t.spec, [ids], 0, [all]);
          all.forEach((row) => {
            const ref = distribution(reference.get(family)![c][row]);
            assert.equal(a.topIds[0][row][0], ref.top, `top-1 at row ${row} of canvas ${c}`);
            a.topIds[0][row].forEach((id, k) => (worst = Math.max(worst, Math.abs(a.topProbs[0][row][k] - ref.probs[id]))));
            worst = Math.max(worst, Math.abs(a.entropy[0][row] - ref.entropy));
            rows++;
          });
        }
        assert.equal(rows, 264);
        assert.ok(worst <= 1e-4, `largest difference ${worst}`);
      });

      it('a batch of two different canvases answers each as the reference does alone, at different positions each', async () => {
        const t = checkpoints.get(family)!;
        const [, , a, b] = canvases.get(family)!;
        const positions = [
          [3, 17, 60],
          [0, 33, 63],
        ];
        const out = await runGraph(fp32.get(family)!, t.spec, [a, b], 0, positions);
        positions.forEach((ps, batch) =>
          ps.forEach((row, i) => {
            const ref = distribution(reference.get(family)![2 + batch][row]);
            assert.equal(out.topIds[batch][i][0], ref.top, `canvas ${batch}, row ${row}`);
            assert.ok(Math.abs(out.topProbs[batch][i][0] - ref.probs[ref.top]) <= 1e-4);
          }),
        );
        assert.notDeepEqual(out.topIds[0], out.topIds[1], 'the two canvases answer differently');
        assert.deepEqual(out.kv.dims, [t.spec.layers, 2, 2, t.spec.kvHeads, 64, t.spec.headDim]);
      });

      it("the cached step (a window against the rest of the full forward's kv, in any order) answers as the full forward", async () => {
        const t = checkpoints.get(family)!;
        const s = fp32.get(family)!;
        const ids = canvases.get(family)![1];
        const all = ids.map((_, i) => i);
        const full = await runGraph(s, t.spec, [ids], 0, [all]);
        const [from, to] = [40, 72];
        const rest = all.filter((i) => i < from || i >= to).reverse(); // attention has no order: reversed on purpose
        const window = all.slice(from, to);
        const step = await runGraph(s, t.spec, [ids.slice(from, to)], from, [window], selectRows(full.kv, rest));
        window.forEach((row, i) => {
          assert.deepEqual(step.topIds[0][i], full.topIds[0][row], `row ${row}`);
          step.topProbs[0][i].forEach((p, k) => assert.ok(Math.abs(p - full.topProbs[0][row][k]) <= 1e-5, `row ${row}: ${p} vs ${full.topProbs[0][row][k]}`));
          assert.ok(Math.abs(step.entropy[0][i] - full.entropy[0][row]) <= 1e-5);
        });
        // the step's own keys and values are the full forward's window rows
        const fresh = step.kv.data as Float32Array;
        const expected = selectRows(full.kv, window).data as Float32Array;
        let diff = 0;
        fresh.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - expected[i]))));
        assert.ok(diff <= 1e-5, `kv differs by ${diff}`);
        // and a wrong start (other rotary positions) does not
        const shifted = await runGraph(s, t.spec, [ids.slice(from, to)], from + 1, [window.map((r) => r + 1)], selectRows(full.kv, rest));
        assert.ok(
          shifted.topProbs[0].some((p, i) => Math.abs(p[0] - full.topProbs[0][window[i]][0]) > 1e-4),
          'start moves the rotary positions',
        );
      });
    });
  }

  it("every family's graph at every precision passes onnx.checker's full check (the ONNX spec, types and shapes inferred)", async () => {
    const graphs: string[] = [];
    for (const family of FAMILIES) {
      for (const precision of PRECISIONS) {
        const graphFile = path.join(work, `${family}-${precision}`, 'model.onnx');
        if (!fs.existsSync(graphFile)) {
          fs.mkdirSync(path.dirname(graphFile), { recursive: true });
          await buildGraph(checkpoints.get(family)!.spec, checkpoints.get(family)!.tensors, { precision, graphFile });
        }
        graphs.push(graphFile);
      }
    }
    // onnx.checker reads the external data file beside each graph (model.onnx.data) by the graph's path
    const code = ['import sys, onnx', 'for g in sys.argv[1:]:', '    onnx.checker.check_model(g, full_check=True)', '    print("ok", g)'].join('\n');
    const checked = pythonCode(code, graphs);
    assert.deepEqual(
      checked.trim().split('\n'),
      graphs.map((g) => `ok ${g}`),
    );
  });

  // The floors catch a broken quantizer (int4 with every matrix at 4 bits agreed on 83%), not the CPU's kernels: the same
  // onnxruntime 1.30 gave int8 97.9% / int4 97% on round 3's machine and 93.8% / 93.5% on this round's AMD EPYC
  // (AVX2, no VNNI), whose uint8×int8 products go through a saturating int16 step, on the engine's own sources; on the
  // fixed text below it gives 95.6% / 95.0% there. The product target (≥ 97%) is
  // measured by scripts/precision-agreement.ts (docs/benchmarks.md, "Precision").
  it('int8 and int4 against fp32 on the bundled trained model (masked real code): top-1 agreement int8 ≥ 92%, int4 ≥ 92%', async () => {
    const dir = path.join(work, 'bundled');
    python('to_safetensors.py', ['--out', dir]);
    const ckpt = await openCheckpoint(dir);
    // canvases of real code with about a third of the rows masked, as the model was trained; each run
    // alone (batch 1), as the editor runs them: int8 quantizes activations per run
    // the latency gaps' code (knip's, committed in bench/latency): a text that does not move when this repository's code
    // does (the engine's own sources moved the figure by 2 points from one commit to the next)
    const text = fs
      .readFileSync(path.join(ROOT, 'bench', 'latency', 'gaps.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { prompt: string }).prompt)
      .join('\n');
    const tokens = ckpt.tokenizer.encode(text);
    const rand = normal(3);
    const length = 256;
    const canvases = [0, 1, 2, 3, 4, 5].map((b) => tokens.slice(b * length, (b + 1) * length));
    assert.equal(canvases[5].length, length, 'enough text for six canvases');
    const masked = Array.from({ length }, (_, i) => i)
      .filter(() => rand() > 0.43)
      .slice(0, 80);
    for (const c of canvases) for (const i of masked) c[i] = ckpt.tokens.mask;
    const answers: Record<string, number[]> = {};
    for (const precision of ['fp32', 'int8', 'int4'] as const) {
      const s = await session(ckpt, precision, work, 'bundled');
      answers[precision] = [];
      for (const c of canvases) answers[precision].push(...(await runGraph(s, ckpt.spec, [c], 0, [masked])).topIds[0].map((k) => k[0]));
      await s.release();
    }
    const agree = (p: string) => answers[p].filter((id, i) => id === answers.fp32[i]).length / answers.fp32.length;
    console.log(
      `      ${answers.fp32.length} masked rows: top-1 agreement with fp32: int8 ${(100 * agree('int8')).toFixed(1)}%, int4 ${(100 * agree('int4')).toFixed(1)}%`,
    );
    assert.equal(answers.fp32.length, 480);
    assert.ok(agree('int8') >= 0.92, `int8 agrees on ${agree('int8')}`);
    assert.ok(agree('int4') >= 0.92, `int4 agrees on ${agree('int4')}`);
  });
});
