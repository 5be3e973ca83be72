// The graph builder's parts on their own: the ONNX writer (run by onnxruntime-node), the quantizers and float16
// rounding, and buildGraph's storage (the tied table once, streamed external data), progress and refusals. Parity with
// transformers is parity.test.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ort } from '../../../src/model/ort';
import { buildGraph } from '../../../src/convert/graph';
import { OnnxWriter } from '../../../src/convert/onnx/writer';
import { dequantizeBlocks, quantizeBlocks, quantizeChannels, toFloat16 } from '../../../src/convert/quantize';
import { CANONICAL, type ArchSpec, type TensorSource } from '../../../src/convert/spec';
import { GRAPH } from '../../../src/contract/graph';
import type { Precision } from '../../../src/contract/precision';
import { normal, runGraph } from './parityFixtures';

const SPEC: ArchSpec = {
  family: 'qwen2',
  modelType: 'qwen2',
  vocabSize: 3000,
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  intermediate: 96,
  norm: 'rms',
  normEps: 1e-6,
  mlp: 'swiglu',
  qkvBias: true,
  ropeTheta: 10000,
  tiedEmbeddings: true,
  maxPositions: 256,
  logitsShift: 1,
};

/** Random weights in the canonical names of `spec`, read as the reader would hand them over. */
function randomSource(spec: ArchSpec, seed = 1): TensorSource & { reads: string[] } {
  const rand = normal(seed);
  const { hidden: H, heads, kvHeads: KV, headDim: D, intermediate: F, vocabSize: V } = spec;
  const shapes = new Map<string, number[]>([
    [CANONICAL.embed, [V, H]],
    [`${CANONICAL.finalNorm}.weight`, [H]],
  ]);
  if (!spec.tiedEmbeddings) shapes.set(CANONICAL.lmHead, [V, H]);
  for (let i = 0; i < spec.layers; i++) {
    const p = (part: Parameters<typeof CANONICAL.layer>[1]) => CANONICAL.layer(i, part);
    for (const [name, shape] of [
      [`${p('attn_norm')}.weight`, [H]],
      [`${p('mlp_norm')}.weight`, [H]],
      [`${p('q')}.weight`, [heads * D, H]],
      [`${p('k')}.weight`, [KV * D, H]],
      [`${p('v')}.weight`, [KV * D, H]],
      [`${p('q')}.bias`, [heads * D]],
      [`${p('k')}.bias`, [KV * D]],
      [`${p('v')}.bias`, [KV * D]],
      [`${p('o')}.weight`, [H, heads * D]],
      [`${p('gate')}.weight`, [F, H]],
      [`${p('up')}.weight`, [F, H]],
      [`${p('down')}.weight`, [H, F]],
    ] as const)
      shapes.set(name, [...shape]);
  }
  const reads: string[] = [];
  return {
    reads,
    has: (name) => shapes.has(name),
    shape: (name) => {
      const s = shapes.get(name);
      if (!s) throw new Error(`tensor "${name}" is missing`);
      return s;
    },
    read: async (name) => {
      reads.push(name);
      const shape = shapes.get(name)!;
      const n = shape.reduce((a, b) => a * b, 1);
      if (name.endsWith('norm.weight')) return Float32Array.from({ length: n }, () => 1 + 0.1 * rand());
      return Float32Array.from({ length: n }, () => rand() / Math.sqrt(shape[shape.length - 1]));
    },
  };
}

describe('converter graph: writer, quantizers and storage', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-graph-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("the ONNX writer's graph runs in onnxruntime: y = x · W + b with W in the aligned external data file", async () => {
    const file = path.join(dir, 'tiny.onnx');
    const w = new OnnxWriter(file, `${file}.data`);
    const x = w.input('x', 'float', ['rows', 3]);
    const first = w.weight('first', 'float', [3], Float32Array.from([9, 9, 9])); // placed before W: W's offset is aligned
    const weight = w.weight('w', 'float', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const bias = w.constant('float', [2], [0.5, -0.5]);
    w.output('y', w.node('Add', [w.node('MatMul', [w.node('Add', [x, w.node('Sub', [first, first])]), weight]), bias]), 'float', ['rows', 2]);
    const { bytes } = w.finish('tiny', 'a test graph');
    assert.equal(fs.statSync(`${file}.data`).size, 4096 + 24, 'the second weight starts at the next 4 KiB');
    assert.equal(bytes, fs.statSync(file).size + fs.statSync(`${file}.data`).size);
    const s = await ort.InferenceSession.create(file);
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 0, -1, 2, 1, 0]), [2, 3]) });
    assert.deepEqual(Array.from(out.y.data as Float32Array), [1 - 5 + 0.5, 2 - 6 - 0.5, 2 + 3 + 0.5, 4 + 4 - 0.5]);
    await s.release();
  });

  it('8-bit blocks are symmetric (code 128 is zero) and within half a step of each weight', () => {
    const w = Float32Array.from({ length: 2 * 40 }, (_, i) => Math.sin(i) * (i % 7));
    const q = quantizeBlocks(w, 2, 40, 8, 32);
    assert.equal(q.blocks, 2);
    assert.equal(q.data.length, 2 * 2 * 32, 'the short last block is padded');
    assert.equal(q.zeroPoints, undefined);
    const back = dequantizeBlocks(q);
    w.forEach((v, i) => assert.ok(Math.abs(back[i] - v) <= q.scales[Math.floor(i / 40) * 2 + Math.floor((i % 40) / 32)] / 2 + 1e-7));
    assert.equal(q.data[2 * 32 + 40 - 32 + 1], 128, 'padding is the zero code');
  });

  it('4-bit blocks pack two codes a byte, the first in the low nibble, with a zero code per block', () => {
    // one block of 16: 0, 1, …, 15 × 0.1 (min 0): scale 0.1, zero code 0, so code i at position i
    const w = Float32Array.from({ length: 16 }, (_, i) => i * 0.1);
    const q = quantizeBlocks(w, 1, 16, 4, 16);
    assert.ok(Math.abs(q.scales[0] - 0.1) < 1e-6);
    assert.deepEqual(Array.from(q.zeroPoints!), [0]);
    assert.deepEqual(Array.from(q.data), [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    // random weights: the error is that of 15 steps over the block's range, not more
    const r = normal(4);
    const m = Float32Array.from({ length: 8 * 64 }, () => r());
    const back = dequantizeBlocks(quantizeBlocks(m, 8, 64, 4, 32));
    let err = 0;
    let norm = 0;
    m.forEach((v, i) => ((err += (v - back[i]) ** 2), (norm += v * v)));
    assert.ok(Math.sqrt(err / norm) < 0.12, `relative error ${Math.sqrt(err / norm)}`);
  });

  it('8-bit channels: codes transposed to [in, out], one scale per output feature', () => {
    const q = quantizeChannels(Float32Array.from([1, -2, 0.5, 0.25]), 2, 2);
    assert.deepEqual(Array.from(q.scales), [Math.fround(2 / 127), Math.fround(0.5 / 127)]);
    assert.deepEqual(Array.from(q.codes), [64, 127, -127, 64]); // column-major: w[0][0], w[1][0], w[0][1], w[1][1]
  });

  it('float16 rounding: normal, subnormal, overflow and ties to even', () => {
    const bits = Array.from(toFloat16(Float32Array.from([1, -2, 0.1, 65504, 70000, 5.960464477539063e-8, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, NaN])));
    assert.deepEqual(bits.slice(0, 9), [0x3c00, 0xc000, 0x2e66, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x3c00, 0x3c02]);
    assert.equal(bits[9] & 0x7c00, 0x7c00);
    assert.notEqual(bits[9] & 0x3ff, 0);
  });

  it('a tied model stores its vocabulary table once; an untied one twice', async () => {
    const sizes: Record<string, number> = {};
    for (const tied of [true, false]) {
      const graphFile = path.join(dir, `tied-${tied}`, 'model.onnx');
      fs.mkdirSync(path.dirname(graphFile));
      const spec = { ...SPEC, tiedEmbeddings: tied };
      await buildGraph(spec, randomSource(spec), { precision: 'int8', graphFile });
      sizes[String(tied)] = fs.statSync(GRAPH.weightsFile(graphFile)).size;
    }
    const table = SPEC.vocabSize * SPEC.hidden; // int8 codes, plus a scale per row
    assert.ok(sizes.false - sizes.true >= table, `untied ${sizes.false} vs tied ${sizes.true}`);
    // each weight starts at a 4 KiB boundary: two small layers' padding is most of the rest
    assert.ok(sizes.true < 2 * table, `tied ${sizes.true} bytes hold one ${table}-byte table and two small layers`);
  });

  it('reads each tensor once, reports progress per weight group, and every precision answers', async () => {
    const answers: Record<string, number[]> = {};
    const data: Record<string, number> = {};
    for (const precision of ['fp32', 'fp16', 'int8', 'int4'] as Precision[]) {
      const graphFile = path.join(dir, precision, 'model.onnx');
      fs.mkdirSync(path.dirname(graphFile));
      const source = randomSource(SPEC, 7);
      const progress: [number, number][] = [];
      await buildGraph(SPEC, source, { precision, graphFile, onProgress: (done, total) => progress.push([done, total]) });
      assert.deepEqual(progress, [
        [1, 4],
        [2, 4],
        [3, 4],
        [4, 4],
      ]);
      assert.equal(new Set(source.reads).size, source.reads.length, `${precision}: a tensor read twice`);
      data[precision] = fs.statSync(GRAPH.weightsFile(graphFile)).size;
      // nodes are named by part and op, so an onnxruntime profile reads by layer
      const graph = fs.readFileSync(graphFile, 'latin1');
      const product = precision === 'int4' ? 'MatMulNBits' : precision === 'int8' ? 'MatMulInteger' : 'MatMul';
      for (const name of [
        `layers.1.mlp.down_proj/${product}`,
        'layers.0.self_attn.qkv_proj/Add',
        'layers.1.input_layernorm/ReduceMean',
        'embed_tokens/Gather',
        'lm_head/',
      ]) {
        assert.ok(graph.includes(name), `${precision}: no node ${name}`);
      }
      const s = await ort.InferenceSession.create(graphFile, { intraOpNumThreads: 1 });
      const ids = Array.from({ length: 48 }, (_, i) => (i * 131) % SPEC.vocabSize);
      const out = await runGraph(s, SPEC, [ids], 0, [ids.map((_, i) => i)]);
      answers[precision] = out.topIds[0].map((k) => k[0]);
      out.topProbs[0].forEach((p) => assert.ok(p[0] >= p[1] && p[0] <= 1));
      await s.release();
    }
    assert.ok(data.fp16 < 0.55 * data.fp32 && data.int8 < 0.35 * data.fp32, JSON.stringify(data));
    const agree = (p: string) => answers[p].filter((id, i) => id === answers.fp32[i]).length / answers.fp32.length;
    assert.ok(agree('fp16') >= 0.95, `fp16 ${agree('fp16')}`);
  });

  it('refuses a tensor of the wrong shape, naming it, and leaves no data file behind', async () => {
    const graphFile = path.join(dir, 'bad', 'model.onnx');
    fs.mkdirSync(path.dirname(graphFile));
    const source = randomSource(SPEC);
    const wrong: TensorSource = { ...source, shape: (name) => (name === 'layers.1.o.weight' ? [64, 63] : source.shape(name)) };
    await assert.rejects(buildGraph(SPEC, wrong, { precision: 'int8', graphFile }), /tensor "layers\.1\.o\.weight" has shape \[64,63\]; expected \[64, 64\]/);
    assert.ok(!fs.existsSync(GRAPH.weightsFile(graphFile)) && !fs.existsSync(graphFile));
    await assert.rejects(buildGraph({ ...SPEC, kvHeads: 3 }, source, { precision: 'fp32', graphFile }), /kvHeads \(3\) does not divide heads \(4\)/);
  });
});
