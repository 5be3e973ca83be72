// Builds the one graph of src/contract/graph.ts GRAPH from an ArchSpec and a TensorSource, streaming: each weight is
// read, converted to the precision, appended to model.onnx.data and dropped before the next is read. The parts follow
// the reference modelling code (transformers' Qwen2/Llama: embed_tokens, layers[i] = input_layernorm, self_attn,
// post_attention_layernorm, mlp; norm; lm_head) and each node is named `<part>/<op>` in those names (e.g.
// `layers.3.self_attn.o_proj/MatMul`), so an onnxruntime profile (enableProfiling) can be read layer by layer.
import * as fs from 'node:fs';
import { CANONICAL, type ArchSpec, type TensorSource } from './spec';
import { GRAPH } from '../contract/graph';
import type { Precision } from '../contract/precision';
import { DType, float, MS_DOMAIN, OnnxWriter, type Nodes } from './onnx/writer';
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

/** A linear layer y = x·Wᵀ (+ b) on the last axis, or any other part with one input and one output. */
type Part = (x: string) => string;

/** How weights are stored: the precision and, for the quantized ones, MatMulNBits' block size and accuracy level. */
interface Storage {
  precision: Precision;
  blockSize: number;
  accuracyLevel: number;
}

/** What every part is built from: the writer, the architecture, the checkpoint's weights and how to store them. */
interface Ctx {
  w: OnnxWriter;
  spec: ArchSpec;
  weights: Weights;
  storage: Storage;
}

export async function buildGraph(spec: ArchSpec, tensors: TensorSource, options: BuildOptions): Promise<{ bytes: number }> {
  check(spec);
  const topK = options.topK ?? GRAPH.topK;
  const storage: Storage = {
    precision: options.precision,
    blockSize: options.blockSize ?? QUANT.blockSize,
    accuracyLevel: options.accuracyLevel ?? QUANT.accuracyLevel,
  };
  const dataFile = GRAPH.weightsFile(options.graphFile);
  const w = new OnnxWriter(options.graphFile, dataFile);
  const total = spec.layers + 2;
  let done = 0;
  const progress = () => options.onProgress?.(++done, total);
  try {
    const ctx: Ctx = { w, spec, weights: weightReader(tensors), storage };
    const { kvHeads: KV, headDim: D, layers: L } = spec;
    const I = GRAPH.inputs;
    const ids = w.input(I.ids, 'int64', ['batch', 'q']);
    const start = w.input(I.start, 'int64', [1]);
    const pastKv = w.input(I.pastKv, 'float', [L, 2, 'batch', KV, 'p', D]);
    const positions = w.input(I.positions, 'int64', ['batch', 'n']);

    const embedTokens = await vocabularyTable(ctx, 'embed', CANONICAL.embed);
    let hidden = embedTokens.gather(ids);
    progress();

    const rope = rotaryEmbedding(ctx, ids, start);
    const constants = attentionConstants(ctx);
    const present: string[] = [];
    for (let i = 0; i < L; i++) {
      const layer = await decoderLayer(ctx, i, constants);
      const out = layer(hidden, rope, pastKv);
      hidden = out.hidden;
      present.push(out.kv);
      progress();
    }

    // the wanted rows are gathered before the final norm and the head: the other rows' logits are never computed
    const wanted = wantedRows(ctx, hidden, ids, start, positions, rope.qLen);
    const norm = await normalization(ctx, 'norm', CANONICAL.finalNorm);
    const lmHead = spec.tiedEmbeddings ? embedTokens.project : (await vocabularyTable(ctx, 'lm_head', CANONICAL.lmHead)).project;
    const logits = lmHead(norm(wanted));
    progress();

    const p = w.scope('predictions');
    const logp = p.node('LogSoftmax', [logits], { axis: -1 });
    const probs = p.node('Exp', [logp]);
    const entropy = p.node('Neg', [p.node('ReduceSum', [p.node('Mul', [probs, logp]), w.ints([-1])], { keepdims: 0 })]);
    const [topProbs, topIds] = p.nodeN('TopK', [probs, w.ints([topK])], { axis: -1, largest: 1, sorted: 1 }, { count: 2 });
    const O = GRAPH.outputs;
    w.output(O.topIds, topIds, 'int64', ['batch', 'n', topK]);
    w.output(O.topProbs, topProbs, 'float', ['batch', 'n', topK]);
    w.output(O.entropy, entropy, 'float', ['batch', 'n']);
    w.output(O.kv, w.scope('present').node('Concat', present, { axis: 0 }), 'float', [L, 2, 'batch', KV, 'q', D]);
    return w.finish(`${spec.modelType} (${spec.family}), ${storage.precision}`, 'Unmask denoiser: src/contract/graph.ts GRAPH');
  } catch (e) {
    w.abort();
    fs.rmSync(dataFile, { force: true });
    throw e;
  }
}

/** The checkpoint's weights, each read when its part is built, with its shape checked. */
interface Weights {
  /** A [rows, cols] Linear weight (PyTorch's (out, in) layout). */
  matrix(name: string, rows: number, cols: number): Promise<Float32Array>;
  /** A [V, H] vocabulary table; a checkpoint may pad it with rows past V, which are dropped. */
  table(name: string, V: number, H: number): Promise<Float32Array>;
  vector(name: string, n: number): Promise<Float32Array>;
}

function weightReader(tensors: TensorSource): Weights {
  const rows = async (name: string, rows: number, cols: number, expected: string) => {
    const shape = tensors.shape(name);
    if (shape.length !== 2 || shape[0] < rows || shape[1] !== cols) throw new Error(`tensor "${name}" has shape [${shape}]; expected ${expected}`);
    const data = await tensors.read(name);
    return shape[0] === rows ? data : data.subarray(0, rows * cols);
  };
  return {
    matrix: (name, r, c) => rows(name, r, c, `[${r}, ${c}]`),
    table: (name, V, H) => rows(name, V, H, `[≥${V}, ${H}]`),
    async vector(name, n) {
      const shape = tensors.shape(name);
      if (shape.length !== 1 || shape[0] !== n) throw new Error(`tensor "${name}" has shape [${shape}]; expected [${n}]`);
      return tensors.read(name);
    },
  };
}

/**
 * A Linear from its (out, in) weight, stored now in the precision's layout for its kind of matrix; its nodes are named
 * in `scope` (e.g. `layers.3.mlp.down_proj`).
 */
function linear(ctx: Ctx, scope: string, name: string, kind: MatrixKind, weight: Float32Array, out: number, inp: number, bias?: Float32Array): Part {
  const { w } = ctx;
  const { precision, blockSize, accuracyLevel } = ctx.storage;
  const n = w.scope(scope);
  let apply: Part;
  if (precision === 'int8' || precision === 'int8nbits' || precision === 'int4') {
    const layout = LAYOUT[precision][kind];
    if (layout === 'channels8') {
      const q = storeChannels(w, name, weight, out, inp);
      apply = (x) => q.apply(n, x);
    } else {
      const bits = layout === 'blocks8' ? 8 : 4;
      const q = storeBlocks(w, name, weight, out, inp, bits, blockSize);
      apply = (x) =>
        n.node('MatMulNBits', [x, ...q.inputs], { K: inp, N: out, bits, block_size: blockSize, accuracy_level: accuracyLevel }, { domain: MS_DOMAIN });
    }
  } else {
    const t = transpose(weight, out, inp);
    if (precision === 'fp16') {
      const wt = w.weight(name, 'float16', [inp, out], toFloat16(t));
      apply = (x) => n.node('Cast', [n.node('MatMul', [n.node('Cast', [x], { to: DType.float16 }), wt])], { to: DType.float });
    } else {
      const wt = w.weight(name, 'float', [inp, out], t);
      apply = (x) => n.node('MatMul', [x, wt]);
    }
  }
  if (!bias) return apply;
  const b = w.weight(`${name}.bias`, 'float', [out], bias);
  return (x) => n.node('Add', [apply(x), b]);
}

/** A LayerNorm or an RMSNorm over the hidden features, its weights (checkpoint name `weights`) stored now. */
async function normalization(ctx: Ctx, scope: string, weights: string): Promise<Part> {
  const { w, spec } = ctx;
  const H = spec.hidden;
  const n = w.scope(scope);
  const weight = w.weight(`${weights}.weight`, 'float', [H], await ctx.weights.vector(`${weights}.weight`, H));
  if (spec.norm === 'layer') {
    const bias = w.weight(`${weights}.bias`, 'float', [H], await ctx.weights.vector(`${weights}.bias`, H));
    return (x) => n.node('LayerNormalization', [x, weight, bias], { axis: -1, epsilon: float(spec.normEps) });
  }
  // RMSNorm written as onnxruntime's fusion pattern for SimplifiedLayerNormalization expects it
  const two = w.scalar(2);
  const eps = w.scalar(spec.normEps);
  return (x) => {
    const ms = n.node('ReduceMean', [n.node('Pow', [x, two])], { axes: [-1], keepdims: 1 });
    return n.node('Mul', [n.node('Div', [x, n.node('Sqrt', [n.node('Add', [ms, eps])])]), weight]);
  };
}

/** Rotary positions: cos and sin for canvas positions start .. start + q − 1, and how to apply them to q or k. */
interface Rotary {
  /** The canvas's length q (a scalar). */
  qLen: string;
  /** t [batch, q, heads, D] → t·cos + rotate_half(t)·sin; nodes named in `scope`. */
  apply: (scope: string, t: string) => string;
}

/** `rotary_emb`: the cos and sin tables, computed once for all layers. */
function rotaryEmbedding(ctx: Ctx, ids: string, start: string): Rotary {
  const { w, spec } = ctx;
  const D = spec.headDim;
  const n = w.scope('rotary_emb');
  const scalarStart = n.node('Reshape', [start, w.ints([])]);
  const qLen = n.node('Gather', [n.node('Shape', [ids]), w.constant('int64', [], [1])], { axis: 0 });
  const pos = n.node('Range', [scalarStart, n.node('Add', [scalarStart, qLen]), w.constant('int64', [], [1])]);
  const invFreq = Array.from({ length: D / 2 }, (_, i) => 1 / spec.ropeTheta ** ((2 * i) / D));
  const freqs = n.node('Mul', [n.node('Unsqueeze', [n.node('Cast', [pos], { to: DType.float }), w.ints([1])]), w.constant('float', [1, D / 2], invFreq)]);
  const angles = n.node('Unsqueeze', [n.node('Concat', [freqs, freqs], { axis: -1 }), w.ints([1])]); // [q, 1, D]
  const cos = n.node('Cos', [angles]);
  const sin = n.node('Sin', [angles]);
  const halves = w.ints([D / 2, D / 2]);
  return {
    qLen,
    // rotate_half(t) = (−t₂, t₁)
    apply: (scope, t) => {
      const r = w.scope(scope);
      const [a, b] = r.nodeN('Split', [t, halves], { axis: -1 }, { count: 2 });
      const rotated = r.node('Concat', [r.node('Neg', [b]), a], { axis: -1 });
      return r.node('Add', [r.node('Mul', [t, cos]), r.node('Mul', [rotated, sin])]);
    },
  };
}

/** The shapes and scalars every layer's attention uses, written once. */
function attentionConstants(ctx: Ctx) {
  const { w, spec } = ctx;
  const { heads, kvHeads: KV, headDim: D } = spec;
  return {
    qkvSplit: w.ints([heads * D, KV * D, KV * D]),
    scale: w.scalar(1 / Math.sqrt(D)),
    shapeQ: w.ints([0, 0, heads, D]),
    shapeKv: w.ints([0, 0, KV, D]),
    shapeGrouped: w.ints([0, KV, -1, D]),
    shapeHeads: w.ints([0, heads, -1, D]),
    shapeFlat: w.ints([0, 0, heads * D]),
    zero: w.constant('int64', [], [0]),
    one: w.constant('int64', [], [1]),
  };
}
type AttentionConstants = ReturnType<typeof attentionConstants>;

/** A layer's attention: its hidden input, the rotary tables and the graph's past_kv → its output and its present kv. */
type Attention = (x: string, rope: Rotary, pastKv: string) => { out: string; kv: string };

/**
 * `layers.i.self_attn`: q, k and v from one fused product, rotary positions on q and k, then attention of the q
 * computed rows over the p past rows and themselves with no mask, and o_proj. Its weights are stored now.
 */
async function selfAttention(ctx: Ctx, i: number, c: AttentionConstants): Promise<Attention> {
  const { w, spec, weights } = ctx;
  const { hidden: H, heads, kvHeads: KV, headDim: D } = spec;
  const part = (p: 'q' | 'k' | 'v' | 'o') => CANONICAL.layer(i, p);
  const scope = `layers.${i}.self_attn`;
  const qkvWeight = concatRows([
    await weights.matrix(`${part('q')}.weight`, heads * D, H),
    await weights.matrix(`${part('k')}.weight`, KV * D, H),
    await weights.matrix(`${part('v')}.weight`, KV * D, H),
  ]);
  const qkvBias = spec.qkvBias
    ? concatRows([
        await weights.vector(`${part('q')}.bias`, heads * D),
        await weights.vector(`${part('k')}.bias`, KV * D),
        await weights.vector(`${part('v')}.bias`, KV * D),
      ])
    : undefined;
  const qkvProj = linear(ctx, `${scope}.qkv_proj`, `layers.${i}.qkv`, 'qkv', qkvWeight, (heads + 2 * KV) * D, H, qkvBias);
  const oProj = linear(ctx, `${scope}.o_proj`, `layers.${i}.o`, 'o', await weights.matrix(`${part('o')}.weight`, H, heads * D), H, heads * D);
  const n = w.scope(scope);
  const cache = w.scope(`${scope}.cache`);
  return (x, rope, pastKv) => {
    const [qh, kh, vh] = n.nodeN('Split', [qkvProj(x), c.qkvSplit], { axis: -1 }, { count: 3 });
    const q = n.node('Transpose', [rope.apply(`${scope}.rotary_q`, n.node('Reshape', [qh, c.shapeQ]))], { perm: [0, 2, 1, 3] });
    const k = n.node('Transpose', [rope.apply(`${scope}.rotary_k`, n.node('Reshape', [kh, c.shapeKv]))], { perm: [0, 2, 1, 3] }); // [b, KV, q, D]
    const v = n.node('Transpose', [n.node('Reshape', [vh, c.shapeKv])], { perm: [0, 2, 1, 3] });
    // this layer's rows of the graph's kv output: [1, 2, b, KV, q, D]
    const kv = cache.node('Unsqueeze', [
      cache.node('Concat', [cache.node('Unsqueeze', [k, w.ints([0])]), cache.node('Unsqueeze', [v, w.ints([0])])], { axis: 0 }),
      w.ints([0]),
    ]);
    const past = cache.node('Gather', [pastKv, w.constant('int64', [], [i])], { axis: 0 });
    const keys = cache.node('Concat', [cache.node('Gather', [past, c.zero], { axis: 0 }), k], { axis: 2 });
    const values = cache.node('Concat', [cache.node('Gather', [past, c.one], { axis: 0 }), v], { axis: 2 });
    // query head j reads key/value head j // group: fold the group's heads into the rows of their key/value head
    const grouped = n.node('Reshape', [n.node('Mul', [q, c.scale]), c.shapeGrouped]);
    const scores = n.node('MatMul', [grouped, n.node('Transpose', [keys], { perm: [0, 1, 3, 2] })]);
    const attended = n.node('MatMul', [n.node('Softmax', [scores], { axis: -1 }), values]);
    const merged = n.node('Reshape', [n.node('Transpose', [n.node('Reshape', [attended, c.shapeHeads])], { perm: [0, 2, 1, 3] }), c.shapeFlat]);
    return { out: oProj(merged), kv };
  };
}

/** `layers.i.mlp`: down(silu(gate(x)) · up(x)) or down(gelu(up(x))); its weights are stored now. */
async function mlp(ctx: Ctx, i: number): Promise<Part> {
  const { w, spec, weights } = ctx;
  const { hidden: H, intermediate: F } = spec;
  const part = (p: 'gate' | 'up' | 'down') => CANONICAL.layer(i, p);
  const scope = `layers.${i}.mlp`;
  const proj = async (p: 'gate' | 'up' | 'down', out: number, inp: number) =>
    linear(ctx, `${scope}.${p}_proj`, `layers.${i}.${p}`, 'mlp', await weights.matrix(`${part(p)}.weight`, out, inp), out, inp);
  const act = w.scope(`${scope}.act_fn`);
  if (spec.mlp === 'swiglu') {
    // two products rather than one fused and split: the Split copied 2 × [q, F] floats a layer, more than it saved
    const gateProj = await proj('gate', F, H);
    const upProj = await proj('up', F, H);
    const downProj = await proj('down', H, F);
    const silu = (g: string) => act.node('Mul', [g, act.node('Sigmoid', [g])]);
    return (x) => downProj(act.node('Mul', [silu(gateProj(x)), upProj(x)]));
  }
  const upProj = await proj('up', F, H);
  const downProj = await proj('down', H, F);
  const sqrt2 = w.scalar(Math.SQRT2);
  const half = w.scalar(0.5);
  const unit = w.scalar(1);
  // the exact (erf) GELU, in the pattern onnxruntime fuses into one Gelu
  const gelu = (u: string) => act.node('Mul', [act.node('Mul', [u, act.node('Add', [act.node('Erf', [act.node('Div', [u, sqrt2])]), unit])]), half]);
  return (x) => downProj(gelu(upProj(x)));
}

/** One pre-norm layer: x + attention(norm(x)), then + mlp(norm(·)); returns the hidden rows and the layer's kv. */
type DecoderLayer = (x: string, rope: Rotary, pastKv: string) => { hidden: string; kv: string };

/** `layers.i`; its weights are read and stored now, in the checkpoint's order. */
async function decoderLayer(ctx: Ctx, i: number, constants: AttentionConstants): Promise<DecoderLayer> {
  const inputLayernorm = await normalization(ctx, `layers.${i}.input_layernorm`, CANONICAL.layer(i, 'attn_norm'));
  const selfAttn = await selfAttention(ctx, i, constants);
  const postAttentionLayernorm = await normalization(ctx, `layers.${i}.post_attention_layernorm`, CANONICAL.layer(i, 'mlp_norm'));
  const feedForward = await mlp(ctx, i);
  const residual = ctx.w.scope(`layers.${i}`);
  return (x, rope, pastKv) => {
    const attn = selfAttn(inputLayernorm(x), rope, pastKv);
    const h = residual.node('Add', [x, attn.out]);
    return { hidden: residual.node('Add', [h, feedForward(postAttentionLayernorm(h))]), kv: attn.kv };
  };
}

/** The rows of `positions` (canvas positions start .. start + q − 1 of each canvas) from hidden [batch, q, H] → [batch, n, H]. */
function wantedRows(ctx: Ctx, hidden: string, ids: string, start: string, positions: string, qLen: string): string {
  const { w } = ctx;
  const n = w.scope('wanted_rows');
  const zero = w.constant('int64', [], [0]);
  const one = w.constant('int64', [], [1]);
  const batch = n.node('Gather', [n.node('Shape', [ids]), zero], { axis: 0 });
  const offsets = n.node('Unsqueeze', [n.node('Mul', [n.node('Range', [zero, batch, one]), qLen]), w.ints([1])]);
  const rows = n.node('Add', [n.node('Sub', [positions, start]), offsets]);
  return n.node('Gather', [n.node('Reshape', [hidden, w.ints([-1, ctx.spec.hidden])]), rows], { axis: 0 });
}

/** A [V, H] table used as the embedding (rows gathered) and as an output projection (logits = h·tableᵀ). */
interface Table {
  /** `embed_tokens`: ids → their rows. */
  gather: (ids: string) => string;
  /** `lm_head`: h [.., H] → logits [.., V]. */
  project: (h: string) => string;
}

/**
 * Stores a vocabulary table once (weight name `name`, checkpoint name `tensor`). fp32/fp16: Gather for the rows, Gemm
 * with transB for the projection. int8/int4: the `channels8` layout serves the projection, and the embedding gathers
 * the same codes and scales and dequantizes the few rows it needs in the graph.
 */
async function vocabularyTable(ctx: Ctx, name: string, tensor: string): Promise<Table> {
  const { w } = ctx;
  const { vocabSize: V, hidden: H } = ctx.spec;
  const { precision } = ctx.storage;
  const table = await ctx.weights.table(tensor, V, H);
  const embed = w.scope('embed_tokens');
  const head = w.scope('lm_head');
  const flatten = (h: string) => head.node('Reshape', [h, w.ints([-1, H])]);
  const unflatten = (logits: string, h: string) =>
    head.node('Reshape', [logits, head.node('Concat', [head.node('Slice', [head.node('Shape', [h]), w.ints([0]), w.ints([-1])]), w.ints([V])], { axis: 0 })]);
  if (precision === 'fp32') {
    const t = w.weight(name, 'float', [V, H], table);
    return {
      gather: (ids) => embed.node('Gather', [t, ids], { axis: 0 }),
      project: (h) => unflatten(head.node('Gemm', [flatten(h), t], { transB: 1 }), h),
    };
  }
  if (precision === 'fp16') {
    const t = w.weight(name, 'float16', [V, H], toFloat16(table));
    return {
      gather: (ids) => embed.node('Cast', [embed.node('Gather', [t, ids], { axis: 0 })], { to: DType.float }),
      project: (h) =>
        unflatten(head.node('Cast', [head.node('Gemm', [head.node('Cast', [flatten(h)], { to: DType.float16 }), t], { transB: 1 })], { to: DType.float }), h),
    };
  }
  // `channels8` in both int8 and int4: the projection's [H, V] codes, whose column v is token v's embedding row
  const q = storeChannels(w, name, table, V, H);
  return {
    project: (h) => q.apply(head, h),
    gather: (ids) => {
      const rows = embed.node('Transpose', [embed.node('Cast', [embed.node('Gather', [q.codes, ids], { axis: 1 })], { to: DType.float })], { perm: [1, 2, 0] });
      return embed.node('Mul', [rows, embed.node('Unsqueeze', [embed.node('Gather', [q.scales, ids], { axis: 0 }), w.ints([-1])])]);
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
  const apply = (n: Nodes, x: string) => {
    const [xq, xScale, xZero] = n.nodeN('DynamicQuantizeLinear', [x], {}, { count: 3 });
    const acc = n.node('MatMulInteger', [xq, codes, xZero]);
    return n.node('Mul', [n.node('Cast', [acc], { to: DType.float }), n.node('Mul', [xScale, scales])]);
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
