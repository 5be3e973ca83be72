// Builds the one graph of spec.ts GRAPH from an ArchSpec and a TensorSource, streaming: each weight is read,
// converted to the precision, appended to model.onnx.data and dropped before the next is read.
import * as fs from 'node:fs';
import { CANONICAL, type ArchSpec, type TensorSource } from './spec';
import { GRAPH } from '../contract/graph';
import type { Precision } from '../contract/precision';
import { float, MS_DOMAIN, OnnxWriter } from './onnx/writer';
import { quantizeBlocks, quantizeChannels, toFloat16 } from './quantize';

export interface BuildOptions {
  precision: Precision;
  /** Predictions per wanted position (default GRAPH.topK). */
  topK?: number;
  /** Absolute path of the model.onnx to write; its weights go to GRAPH.weightsFile(graphFile). */
  graphFile: string;
  /** Called after each weight group (the embedding, each layer, the head) is written. */
  onProgress?: (done: number, total: number) => void;
  /** int8/int4: weights per quantization block along the input features (default QUANT.blockSize). */
  blockSize?: number;
  /** int8/int4: MatMulNBits' accuracy_level (default QUANT.accuracyLevel). */
  accuracyLevel?: number;
}

/**
 * `blocks4`/`blocks8`: onnxruntime's MatMulNBits (blocks of QUANT.blockSize along the inputs, accuracy level 4:
 * activations quantized to int8 per block inside the kernel, the faster level on the 2-core CPU). `channels8`:
 * DynamicQuantizeLinear + MatMulInteger, int8 per output feature with the activations quantized per run, which ran the
 * 0.5B model's MLP product 1.4× (256 rows) to 2.5× (32 rows) faster than MatMulNBits at 8 bits on that CPU
 * (docs/benchmarks.md, "One graph").
 */
export const QUANT = { blockSize: 32, accuracyLevel: 4 } as const;

/**
 * The layout of each kind of matrix; the vocabulary table (embedding and output projection) is `channels8` in both.
 * Chosen on the bundled trained model (masked code, top-1 agreement with fp32): q/k/v stay 8-bit in blocks in both,
 * since attention scores amplify q·k errors (int8 97.1% → 97.9% with blocked q/k/v; int4 with everything at 4 bits
 * 83%, the table at 8 bits 93%, the table and q/k/v at 8 bits 97%). q/k/v are 7% of a 0.5B model's layer weights;
 * llama.cpp likewise keeps its output matrix at higher precision in its 4-bit types.
 */
const LAYOUT = {
  int8: { qkv: 'blocks8', o: 'channels8', mlp: 'channels8' },
  int8nbits: { qkv: 'blocks8', o: 'blocks8', mlp: 'blocks8' },
  int4: { qkv: 'blocks8', o: 'blocks4', mlp: 'blocks4' },
} as const;
type MatrixKind = keyof typeof LAYOUT.int8;

/** What each precision stores, in words (for the manifest and the model card). */
export const PRECISION_NOTE: Record<Precision, string> = {
  fp32: 'fp32 weights',
  fp16: 'fp16 weights (for GPU providers), fp32 activations',
  int8: `int8 weights: q/k/v in MatMulNBits blocks of ${QUANT.blockSize}, the other matrices and the vocabulary table (embedding and output projection, stored once when tied) per output feature with dynamically quantized activations`,
  int8nbits: `int8 weights in MatMulNBits blocks of ${QUANT.blockSize} for every matrix (activations quantized per block inside the kernel at accuracy level ${QUANT.accuracyLevel}); the vocabulary table per output feature as in int8`,
  int4: `int4 weights in MatMulNBits blocks of ${QUANT.blockSize} with zero points; q/k/v and the vocabulary table at 8 bits as in int8`,
};

/** A linear layer y = x·Wᵀ (+ b) on the last axis. */
type Linear = (x: string) => string;

export async function buildGraph(spec: ArchSpec, tensors: TensorSource, options: BuildOptions): Promise<{ bytes: number }> {
  check(spec);
  const topK = options.topK ?? GRAPH.topK;
  const { precision } = options;
  const blockSize = options.blockSize ?? QUANT.blockSize;
  const accuracyLevel = options.accuracyLevel ?? QUANT.accuracyLevel;
  const dataFile = GRAPH.weightsFile(options.graphFile);
  const w = new OnnxWriter(options.graphFile, dataFile);
  const total = spec.layers + 2;
  let done = 0;
  const progress = () => options.onProgress?.(++done, total);
  try {
    const { hidden: H, heads, kvHeads: KV, headDim: D, layers: L, vocabSize: V } = spec;
    const I = GRAPH.inputs;
    const ids = w.input(I.ids, 'int64', ['batch', 'q']);
    const start = w.input(I.start, 'int64', [1]);
    const pastKv = w.input(I.pastKv, 'float', [L, 2, 'batch', KV, 'p', D]);
    const positions = w.input(I.positions, 'int64', ['batch', 'n']);

    // read a [rows, cols] Linear weight (PyTorch's (out, in) layout), checking its shape
    const matrix = async (name: string, rows: number, cols: number): Promise<Float32Array> => {
      const shape = tensors.shape(name);
      if (shape.length !== 2 || shape[0] < rows || shape[1] !== cols) {
        throw new Error(`tensor "${name}" has shape [${shape}]; expected [${rows}, ${cols}]`);
      }
      const data = await tensors.read(name);
      return shape[0] === rows ? data : data.subarray(0, rows * cols);
    };
    const vector = async (name: string, n: number): Promise<Float32Array> => {
      const shape = tensors.shape(name);
      if (shape.length !== 1 || shape[0] !== n) throw new Error(`tensor "${name}" has shape [${shape}]; expected [${n}]`);
      return tensors.read(name);
    };

    // a Linear from its (out, in) weight, stored in the precision's layout
    const linear = (name: string, kind: MatrixKind, weight: Float32Array, out: number, inp: number, bias?: Float32Array): Linear => {
      let apply: Linear;
      if (precision === 'int8' || precision === 'int8nbits' || precision === 'int4') {
        const layout = LAYOUT[precision][kind];
        if (layout === 'channels8') apply = storeChannels(w, name, weight, out, inp).apply;
        else {
          const bits = layout === 'blocks8' ? 8 : 4;
          const q = storeBlocks(w, name, weight, out, inp, bits, blockSize);
          apply = (x) =>
            w.node('MatMulNBits', [x, ...q.inputs], { K: inp, N: out, bits, block_size: blockSize, accuracy_level: accuracyLevel }, { domain: MS_DOMAIN });
        }
      } else {
        const t = transpose(weight, out, inp);
        if (precision === 'fp16') {
          const wt = w.weight(name, 'float16', [inp, out], toFloat16(t));
          apply = (x) => w.node('Cast', [w.node('MatMul', [w.node('Cast', [x], { to: 10 }), wt])], { to: 1 });
        } else {
          const wt = w.weight(name, 'float', [inp, out], t);
          apply = (x) => w.node('MatMul', [x, wt]);
        }
      }
      if (!bias) return apply;
      const bn = w.weight(`${name}.bias`, 'float', [out], bias);
      return (x) => w.node('Add', [apply(x), bn]);
    };

    const norm = async (name: string): Promise<(x: string) => string> => {
      const weight = w.weight(`${name}.weight`, 'float', [H], await vector(`${name}.weight`, H));
      if (spec.norm === 'layer') {
        const bias = w.weight(`${name}.bias`, 'float', [H], await vector(`${name}.bias`, H));
        return (x) => w.node('LayerNormalization', [x, weight, bias], { axis: -1, epsilon: float(spec.normEps) });
      }
      // RMSNorm written as onnxruntime's fusion pattern for SimplifiedLayerNormalization expects it
      const two = w.scalar(2);
      const eps = w.scalar(spec.normEps);
      return (x) => {
        const ms = w.node('ReduceMean', [w.node('Pow', [x, two])], { axes: [-1], keepdims: 1 });
        return w.node('Mul', [w.node('Div', [x, w.node('Sqrt', [w.node('Add', [ms, eps])])]), weight]);
      };
    };

    // --- the embedding and, when tied, the head on the same stored matrix
    const embedShape = tensors.shape(CANONICAL.embed);
    if (embedShape.length !== 2 || embedShape[0] < V || embedShape[1] !== H) {
      throw new Error(`tensor "${CANONICAL.embed}" has shape [${embedShape}]; expected [≥${V}, ${H}]`);
    }
    const embedTable = await tableWeight(w, 'embed', await matrix(CANONICAL.embed, V, H), V, H, precision);
    let x = embedTable.gather(ids);
    progress();

    // --- rotary tables for canvas positions start .. start + q − 1
    const scalarStart = w.node('Reshape', [start, w.ints([])]);
    const qLen = w.node('Gather', [w.node('Shape', [ids]), w.constant('int64', [], [1])], { axis: 0 });
    const pos = w.node('Range', [scalarStart, w.node('Add', [scalarStart, qLen]), w.constant('int64', [], [1])]);
    const invFreq = Array.from({ length: D / 2 }, (_, i) => 1 / spec.ropeTheta ** ((2 * i) / D));
    const freqs = w.node('Mul', [w.node('Unsqueeze', [w.node('Cast', [pos], { to: 1 }), w.ints([1])]), w.constant('float', [1, D / 2], invFreq)]);
    const angles = w.node('Unsqueeze', [w.node('Concat', [freqs, freqs], { axis: -1 }), w.ints([1])]); // [q, 1, D]
    const cos = w.node('Cos', [angles]);
    const sin = w.node('Sin', [angles]);
    const halves = w.ints([D / 2, D / 2]);
    // x [batch, q, h, D] → x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁)
    const rotary = (t: string) => {
      const [a, b] = w.nodeN('Split', [t, halves], { axis: -1 }, { count: 2 });
      const rotated = w.node('Concat', [w.node('Neg', [b]), a], { axis: -1 });
      return w.node('Add', [w.node('Mul', [t, cos]), w.node('Mul', [rotated, sin])]);
    };

    const qkvSplit = w.ints([heads * D, KV * D, KV * D]);
    const scale = w.scalar(1 / Math.sqrt(D));
    const shapeQ = w.ints([0, 0, heads, D]);
    const shapeKv = w.ints([0, 0, KV, D]);
    const shapeGrouped = w.ints([0, KV, -1, D]);
    const shapeHeads = w.ints([0, heads, -1, D]);
    const shapeFlat = w.ints([0, 0, heads * D]);
    const zero = w.constant('int64', [], [0]);
    const one = w.constant('int64', [], [1]);
    const kvs: string[] = [];
    for (let i = 0; i < L; i++) {
      const part = (p: Parameters<typeof CANONICAL.layer>[1]) => CANONICAL.layer(i, p);
      const attnNorm = await norm(part('attn_norm'));
      const qkvWeight = concatRows([
        await matrix(`${part('q')}.weight`, heads * D, H),
        await matrix(`${part('k')}.weight`, KV * D, H),
        await matrix(`${part('v')}.weight`, KV * D, H),
      ]);
      const qkvBias = spec.qkvBias
        ? concatRows([await vector(`${part('q')}.bias`, heads * D), await vector(`${part('k')}.bias`, KV * D), await vector(`${part('v')}.bias`, KV * D)])
        : undefined;
      const qkv = linear(`layers.${i}.qkv`, 'qkv', qkvWeight, (heads + 2 * KV) * D, H, qkvBias);
      const o = linear(`layers.${i}.o`, 'o', await matrix(`${part('o')}.weight`, H, heads * D), H, heads * D);
      const mlpNorm = await norm(part('mlp_norm'));
      const F = spec.intermediate;
      let mlp: (y: string) => string;
      if (spec.mlp === 'swiglu') {
        // two products rather than one fused and split: the Split copied 2 × [q, F] floats a layer, more than it saved
        const gate = linear(`layers.${i}.gate`, 'mlp', await matrix(`${part('gate')}.weight`, F, H), F, H);
        const up = linear(`layers.${i}.up`, 'mlp', await matrix(`${part('up')}.weight`, F, H), F, H);
        const down = linear(`layers.${i}.down`, 'mlp', await matrix(`${part('down')}.weight`, H, F), H, F);
        mlp = (y) => {
          const g = gate(y);
          return down(w.node('Mul', [w.node('Mul', [g, w.node('Sigmoid', [g])]), up(y)]));
        };
      } else {
        const up = linear(`layers.${i}.up`, 'mlp', await matrix(`${part('up')}.weight`, F, H), F, H);
        const down = linear(`layers.${i}.down`, 'mlp', await matrix(`${part('down')}.weight`, H, F), H, F);
        const sqrt2 = w.scalar(Math.SQRT2);
        const half = w.scalar(0.5);
        const unit = w.scalar(1);
        // the exact (erf) GELU, in the pattern onnxruntime fuses into one Gelu
        mlp = (y) => {
          const u = up(y);
          const erf = w.node('Erf', [w.node('Div', [u, sqrt2])]);
          return down(w.node('Mul', [w.node('Mul', [u, w.node('Add', [erf, unit])]), half]));
        };
      }

      // attention of the q computed rows over the p past rows and themselves, no mask
      const [qh, kh, vh] = w.nodeN('Split', [qkv(attnNorm(x)), qkvSplit], { axis: -1 }, { count: 3 });
      const q = w.node('Transpose', [rotary(w.node('Reshape', [qh, shapeQ]))], { perm: [0, 2, 1, 3] });
      const k = w.node('Transpose', [rotary(w.node('Reshape', [kh, shapeKv]))], { perm: [0, 2, 1, 3] }); // [b, KV, q, D]
      const v = w.node('Transpose', [w.node('Reshape', [vh, shapeKv])], { perm: [0, 2, 1, 3] });
      kvs.push(
        w.node('Unsqueeze', [w.node('Concat', [w.node('Unsqueeze', [k, w.ints([0])]), w.node('Unsqueeze', [v, w.ints([0])])], { axis: 0 }), w.ints([0])]),
      );
      const past = w.node('Gather', [pastKv, w.constant('int64', [], [i])], { axis: 0 });
      const keys = w.node('Concat', [w.node('Gather', [past, zero], { axis: 0 }), k], { axis: 2 });
      const values = w.node('Concat', [w.node('Gather', [past, one], { axis: 0 }), v], { axis: 2 });
      // query head j reads key/value head j // group: fold the group's heads into the rows of their key/value head
      const grouped = w.node('Reshape', [w.node('Mul', [q, scale]), shapeGrouped]);
      const scores = w.node('MatMul', [grouped, w.node('Transpose', [keys], { perm: [0, 1, 3, 2] })]);
      const attended = w.node('MatMul', [w.node('Softmax', [scores], { axis: -1 }), values]);
      const merged = w.node('Reshape', [w.node('Transpose', [w.node('Reshape', [attended, shapeHeads])], { perm: [0, 2, 1, 3] }), shapeFlat]);
      x = w.node('Add', [x, o(merged)]);
      x = w.node('Add', [x, mlp(mlpNorm(x))]);
      progress();
    }

    // --- the wanted rows (positions − start of each canvas), gathered before the final norm and the head
    const batch = w.node('Gather', [w.node('Shape', [ids]), zero], { axis: 0 });
    const offsets = w.node('Unsqueeze', [w.node('Mul', [w.node('Range', [zero, batch, one]), qLen]), w.ints([1])]);
    const rows = w.node('Add', [w.node('Sub', [positions, start]), offsets]);
    const wanted = w.node('Gather', [w.node('Reshape', [x, w.ints([-1, H])]), rows], { axis: 0 }); // [batch, n, H]
    const finalNorm = await norm(CANONICAL.finalNorm);
    let head = embedTable.project;
    if (!spec.tiedEmbeddings) {
      head = (await tableWeight(w, 'lm_head', await matrix(CANONICAL.lmHead, V, H), V, H, precision)).project;
    }
    const logits = head(finalNorm(wanted));
    progress();

    const logp = w.node('LogSoftmax', [logits], { axis: -1 });
    const probs = w.node('Exp', [logp]);
    const entropy = w.node('Neg', [w.node('ReduceSum', [w.node('Mul', [probs, logp]), w.ints([-1])], { keepdims: 0 })]);
    const [topProbs, topIds] = w.nodeN('TopK', [probs, w.ints([topK])], { axis: -1, largest: 1, sorted: 1 }, { count: 2 });
    const O = GRAPH.outputs;
    w.output(O.topIds, topIds, 'int64', ['batch', 'n', topK]);
    w.output(O.topProbs, topProbs, 'float', ['batch', 'n', topK]);
    w.output(O.entropy, entropy, 'float', ['batch', 'n']);
    w.output(O.kv, w.node('Concat', kvs, { axis: 0 }), 'float', [L, 2, 'batch', KV, 'q', D]);
    return w.finish(`${spec.modelType} (${spec.family}), ${precision}`, 'Unmask denoiser: src/contract/graph.ts GRAPH');
  } catch (e) {
    w.abort();
    fs.rmSync(dataFile, { force: true });
    throw e;
  }
}

/** A [V, H] table used as the embedding (rows gathered) and as an output projection (logits = h·tableᵀ). */
interface Table {
  gather: (ids: string) => string;
  project: (h: string) => string;
}

/**
 * Stores a vocabulary table once. fp32/fp16: Gather for the rows, Gemm with transB for the projection. int8/int4: the
 * MatMulNBits layout serves the projection, and the embedding gathers the same codes and scales and dequantizes the
 * few rows it needs in the graph.
 */
async function tableWeight(w: OnnxWriter, name: string, table: Float32Array, V: number, H: number, precision: Precision): Promise<Table> {
  const flatten = (h: string) => w.node('Reshape', [h, w.ints([-1, H])]);
  const unflatten = (logits: string, h: string) =>
    w.node('Reshape', [logits, w.node('Concat', [w.node('Slice', [w.node('Shape', [h]), w.ints([0]), w.ints([-1])]), w.ints([V])], { axis: 0 })]);
  if (precision === 'fp32') {
    const t = w.weight(name, 'float', [V, H], table);
    return {
      gather: (ids) => w.node('Gather', [t, ids], { axis: 0 }),
      project: (h) => unflatten(w.node('Gemm', [flatten(h), t], { transB: 1 }), h),
    };
  }
  if (precision === 'fp16') {
    const t = w.weight(name, 'float16', [V, H], toFloat16(table));
    return {
      gather: (ids) => w.node('Cast', [w.node('Gather', [t, ids], { axis: 0 })], { to: 1 }),
      project: (h) => unflatten(w.node('Cast', [w.node('Gemm', [w.node('Cast', [flatten(h)], { to: 10 }), t], { transB: 1 })], { to: 1 }), h),
    };
  }
  // `channels8` in both int8 and int4: the projection's [H, V] codes, whose column v is token v's embedding row
  const q = storeChannels(w, name, table, V, H);
  return {
    project: q.apply,
    gather: (ids) => {
      const rows = w.node('Transpose', [w.node('Cast', [w.node('Gather', [q.codes, ids], { axis: 1 })], { to: 1 })], { perm: [1, 2, 0] });
      return w.node('Mul', [rows, w.node('Unsqueeze', [w.node('Gather', [q.scales, ids], { axis: 0 }), w.ints([-1])])]);
    },
  };
}

/**
 * Writes an 8-bit matrix for DynamicQuantizeLinear + MatMulInteger (onnxruntime fuses them into one
 * DynamicQuantizeMatMul): int8 codes [in, out], symmetric per output feature, and activations quantized per run.
 */
function storeChannels(w: OnnxWriter, name: string, weight: Float32Array, rows: number, cols: number) {
  const q = quantizeChannels(weight, rows, cols);
  const codes = w.weight(`${name}.int8`, 'int8', [cols, rows], q.codes);
  const scales = w.weight(`${name}.scales`, 'float', [rows], q.scales);
  const apply = (x: string) => {
    const [xq, xScale, xZero] = w.nodeN('DynamicQuantizeLinear', [x], {}, { count: 3 });
    const acc = w.node('MatMulInteger', [xq, codes, xZero]);
    return w.node('Mul', [w.node('Cast', [acc], { to: 1 }), w.node('Mul', [xScale, scales])]);
  };
  return { codes, scales, apply };
}

/** Quantizes and writes one matrix; `inputs` are MatMulNBits' B, scales and (4 bits) zero points. */
function storeBlocks(w: OnnxWriter, name: string, weight: Float32Array, rows: number, cols: number, bits: 4 | 8, blockSize: number) {
  const q = quantizeBlocks(weight, rows, cols, bits, blockSize);
  const inputs = [
    w.weight(`${name}.qweight`, 'uint8', [rows, q.blocks, (blockSize * bits) / 8], q.data),
    w.weight(`${name}.scales`, 'float', [rows * q.blocks], q.scales),
  ];
  if (q.zeroPoints) inputs.push(w.weight(`${name}.zero_points`, 'uint8', [q.zeroPoints.length], q.zeroPoints));
  return { bits, blocks: q.blocks, inputs };
}

function check(spec: ArchSpec): void {
  const bad = (field: string, why: string) => new Error(`ArchSpec of ${spec.modelType}: ${field} ${why}`);
  if (spec.heads % spec.kvHeads) throw bad('kvHeads', `(${spec.kvHeads}) does not divide heads (${spec.heads})`);
  if (spec.headDim % 2) throw bad('headDim', `(${spec.headDim}) is odd; rotary positions pair its two halves`);
  for (const f of ['vocabSize', 'hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'intermediate'] as const) {
    if (!Number.isInteger(spec[f]) || spec[f] <= 0) throw bad(f, `is ${spec[f]}; expected a positive integer`);
  }
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
