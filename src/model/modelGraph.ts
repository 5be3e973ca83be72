// The one graph of a model folder (docs/model-contract.md, "Graph"; src/contract/graph.ts) over one onnxruntime
// session: the full forward and the cached step are the same graph run with other inputs, so every weight is loaded
// once. This is the only place that builds its feeds and reads its outputs.
import { ort } from './ort';
import { GRAPH } from '../contract/graph';
import type { Prediction } from '../engine/types';

/** The sizes of `past_kv` and `kv` besides batch and rows: [layers, 2, batch, kvHeads, rows, headDim]. */
export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

export const GRAPH_INPUTS = Object.values(GRAPH.inputs);
export const GRAPH_OUTPUTS = Object.values(GRAPH.outputs);
/** The outputs a forward reads when it keeps no cache (the graph computes `kv` anyway; it is not copied out). */
const PREDICTION_OUTPUTS = [GRAPH.outputs.topIds, GRAPH.outputs.topProbs, GRAPH.outputs.entropy];

/** One run: the canvas rows [start, start + rows.length) against `past` (keys and values of other rows, or none). */
export interface GraphRun {
  /** The computed rows' tokens, as an int64 tensor [batch, q] (callers may keep and reuse it); batch > 1: several canvases. */
  ids: ort.Tensor;
  start: number;
  /** The other rows' keys and values, [layers, 2, batch, kvHeads, p, headDim]; absent: none (p = 0, the full forward). */
  past?: ort.Tensor;
  /** Canvas positions inside [start, start + q) whose predictions are wanted, the same in every row of the batch. */
  positions: readonly number[];
  /** Also return the computed rows' keys and values (the cache of a refresh). */
  withKv?: boolean;
  /** Keep the predictions' arrays past the next run (onnxruntime reuses nothing, but callers may hold subarrays). */
  copy?: boolean;
  /** Options of this run (e.g. a probe that is expected to fail asks for no log). */
  runOptions?: ort.InferenceSession.RunOptions;
}

/** The graph answered, but not in the contract's types or shapes (a graph made for another contract). */
export class GraphContractError extends Error {
  override readonly name = 'GraphContractError';
}

export class ModelGraph {
  private readonly empty: ort.Tensor;
  private readonly startTensor = new BigInt64Array(1);
  private positions = new BigInt64Array(0);

  /** @param kv the graph's own past_kv sizes (read from its input metadata by `kvShapeOf`) */
  constructor(
    readonly session: ort.InferenceSession,
    readonly topK: number,
    readonly kv: KvShape,
  ) {
    this.empty = new ort.Tensor('float32', new Float32Array(0), [kv.layers, 2, 1, kv.kvHeads, 0, kv.headDim]);
  }

  /** One forward; with a batch of B canvases the predictions are row after row (B × positions). */
  async run(r: GraphRun): Promise<{ predictions: Prediction[]; kv?: ort.Tensor }> {
    this.startTensor[0] = BigInt(r.start);
    const batch = r.ids.dims[0];
    const feeds = {
      [GRAPH.inputs.ids]: r.ids,
      [GRAPH.inputs.start]: new ort.Tensor('int64', this.startTensor, [1]),
      [GRAPH.inputs.pastKv]: r.past ?? (batch === 1 ? this.empty : this.emptyPast(0, batch)),
      [GRAPH.inputs.positions]: this.positionsTensor(r.positions, batch),
    };
    const out = await this.session.run(feeds, r.withKv ? GRAPH_OUTPUTS : PREDICTION_OUTPUTS, r.runOptions ?? {});
    const predictions = this.read(out, r.positions.length * batch, r.copy ?? false);
    if (!r.withKv) return { predictions };
    const kv = out[GRAPH.outputs.kv];
    const q = r.ids.dims[1];
    const want = [this.kv.layers, 2, batch, this.kv.kvHeads, q, this.kv.headDim];
    if (!kv || kv.type !== 'float32' || kv.dims.join(',') !== want.join(',')) {
      throw new GraphContractError(
        `the graph's ${GRAPH.outputs.kv} is ${kv ? `${kv.type} [${kv.dims.join(', ')}]` : 'missing'}, expected float32 [${want.join(', ')}]`,
      );
    }
    return { predictions, kv };
  }

  /**
   * The keys and values of `kv` (a refresh's, [layers, 2, 1, kvHeads, rows, headDim]) without rows [start, end): the
   * past of a step over that window. Row order does not matter to the graph (no mask), so the rows before and after
   * the window are simply placed one after the other: one copy of headDim floats per row kept.
   */
  pastWithout(kv: ort.Tensor, start: number, end: number): ort.Tensor {
    const rows = kv.dims[4];
    const d = this.kv.headDim;
    const blocks = this.kv.layers * 2 * this.kv.kvHeads;
    const keep = rows - (end - start);
    const src = kv.data as Float32Array;
    const dst = new Float32Array(blocks * keep * d);
    for (let b = 0; b < blocks; b++) {
      const from = b * rows * d;
      const to = b * keep * d;
      dst.set(src.subarray(from, from + start * d), to);
      dst.set(src.subarray(from + end * d, from + rows * d), to + start * d);
    }
    return new ort.Tensor('float32', dst, [this.kv.layers, 2, 1, this.kv.kvHeads, keep, d]);
  }

  /** A past of `rows` cached rows of zeros: for measuring a step's cost (costModel.ts), not for decoding. */
  emptyPast(rows: number, batch = 1): ort.Tensor {
    const { layers, kvHeads, headDim } = this.kv;
    return new ort.Tensor('float32', new Float32Array(layers * 2 * batch * kvHeads * rows * headDim), [layers, 2, batch, kvHeads, rows, headDim]);
  }

  /** `past` ([layers, 2, 1, kvHeads, p, headDim]) repeated for a batch of `batch` canvases that share it. */
  repeatPast(past: ort.Tensor, batch: number): ort.Tensor {
    const [L, two, , KV, p, D] = past.dims;
    const src = past.data as Float32Array;
    const block = KV * p * D;
    const dst = new Float32Array(L * two * batch * block);
    for (let o = 0; o < L * two; o++) {
      const from = src.subarray(o * block, (o + 1) * block);
      for (let b = 0; b < batch; b++) dst.set(from, (o * batch + b) * block);
    }
    return new ort.Tensor('float32', dst, [L, two, batch, KV, p, D]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private positionsTensor(positions: readonly number[], batch = 1): ort.Tensor {
    const n = positions.length;
    if (this.positions.length < n * batch) this.positions = new BigInt64Array(Math.max(n * batch, 64));
    for (let b = 0; b < batch; b++) for (let i = 0; i < n; i++) this.positions[b * n + i] = BigInt(positions[i]);
    return new ort.Tensor('int64', this.positions.subarray(0, n * batch), [batch, n]);
  }

  /** The contract's outputs as Predictions, checked against the shapes asked for. */
  private read(out: ort.InferenceSession.OnnxValueMapType, n: number, copy: boolean): Prediction[] {
    const k = this.topK;
    const topIds = out[GRAPH.outputs.topIds];
    const probs = out[GRAPH.outputs.topProbs];
    const entropy = out[GRAPH.outputs.entropy];
    if (topIds?.type !== 'int64' || probs?.type !== 'float32' || entropy?.type !== 'float32') {
      throw new GraphContractError(
        `the graph's outputs must be ${GRAPH.outputs.topIds} int64, ${GRAPH.outputs.topProbs} float32 and ${GRAPH.outputs.entropy} float32`,
      );
    }
    const ids = topIds.data as BigInt64Array;
    const p = probs.data as Float32Array;
    const h = entropy.data as Float32Array;
    if (ids.length !== n * k || p.length !== n * k || h.length !== n) {
      throw new GraphContractError(
        `the graph's outputs do not have the contract's shapes ([1, ${n}, ${k}] and [1, ${n}]): ${ids.length / Math.max(n, 1)} per position`,
      );
    }
    const result: Prediction[] = [];
    for (let j = 0; j < n; j++) {
      const rowIds = new Int32Array(k);
      for (let i = 0; i < k; i++) rowIds[i] = Number(ids[j * k + i]);
      const rowProbs = p.subarray(j * k, (j + 1) * k);
      result.push({ ids: rowIds, probs: copy ? Float32Array.from(rowProbs) : rowProbs, entropy: h[j] });
    }
    return result;
  }
}

/**
 * kv [layers, 2, batch, kvHeads, rows, headDim] with only the rows `keep`, in that order: a cached step's past_kv
 * built from any rows (the measurements and parity tests pick them freely; the decoder uses `pastWithout`).
 */
export function kvRows(kv: ort.Tensor, keep: readonly number[]): ort.Tensor {
  const [L, two, B, KV, T, D] = kv.dims;
  const src = kv.data as Float32Array;
  const out = new Float32Array(L * two * B * KV * keep.length * D);
  let at = 0;
  for (let outer = 0; outer < L * two * B * KV; outer++) {
    for (const r of keep) {
      out.set(src.subarray((outer * T + r) * D, (outer * T + r + 1) * D), at);
      at += D;
    }
  }
  return new ort.Tensor('float32', out, [L, two, B, KV, keep.length, D]);
}

/** The graph's past_kv sizes from its input metadata, or an error saying what is there instead. */
export function kvShapeOf(session: ort.InferenceSession): KvShape {
  const meta = session.inputMetadata?.find((m) => m.name === GRAPH.inputs.pastKv);
  const shape = meta && meta.isTensor ? meta.shape : undefined;
  const fixed = (i: number) => (typeof shape?.[i] === 'number' && (shape[i] as number) > 0 ? (shape[i] as number) : undefined);
  const layers = fixed(0),
    kvHeads = fixed(3),
    headDim = fixed(5);
  if (!shape || shape.length !== 6 || fixed(1) !== 2 || !layers || !kvHeads || !headDim) {
    throw new Error(
      `input ${GRAPH.inputs.pastKv} is [${shape?.join(', ') ?? 'missing'}], expected [layers, 2, batch, kvHeads, p, headDim] with layers, kvHeads and headDim fixed numbers`,
    );
  }
  return { layers, kvHeads, headDim };
}
