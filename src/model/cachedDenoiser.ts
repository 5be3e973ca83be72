// The dual cache (Fast-dLLM, arXiv 2505.22618; docs/model-contract.md, "Dual cache") as a Denoiser: a refresh runs
// the context graph (model.onnx with its `kv` output) over the whole canvas and keeps every layer's keys and values;
// the steps after it run the step graph over the open block's rows only, against the cached keys and values of the
// prefix and suffix. The cache is refreshed once per block (the engine's beginBlock), and whenever the canvas changed
// outside the block's rows or a token went back to the mask (a new decode): never a stale canvas, only stale keys.
import * as ort from 'onnxruntime-node';
import type { Denoiser, Prediction } from '../engine/types';
import { GRAPH_OUTPUTS } from './onnxDenoiser';

export const STEP_INPUTS = ['input_ids', 'start', 'kv', 'positions'] as const;

export interface CacheStats {
  /** Forwards that ran the context graph (the whole canvas). */
  refreshes: number;
  /** Forwards that ran the step graph (the open block only). */
  steps: number;
}

interface Rows {
  start: number;
  end: number;
}

export class CachedDenoiser implements Denoiser {
  readonly stats: CacheStats = { refreshes: 0, steps: 0 };
  private kv?: ort.Tensor;
  private cached: number[] = [];
  private last: number[] = [];
  private window?: Rows;
  private announced?: Rows;
  /** Predictions of the last refresh, by row: the answer for rows outside the window (Fast-dLLM reuses them too). */
  private stale = new Map<number, Prediction>();
  private busy = false;

  /**
   * @param mask the mask id: a row that held another token and holds the mask again means a new canvas
   * @param stepsPerRefresh at most this many step-graph forwards after a refresh before the next one (the rule that
   *   bounds how stale the prefix and suffix keys get); 0 refreshes at every forward (the cache then changes nothing)
   * @param windowMargin rows of the prefix and of the suffix next to the block that the step graph recomputes with it
   *   (so the keys nearest a commit follow it); 0: the block's rows only
   */
  constructor(readonly context: ort.InferenceSession, readonly step: ort.InferenceSession, readonly topK: number,
    readonly kvOutput: string, readonly mask: number, readonly stepsPerRefresh = Infinity, readonly windowMargin = 0) {}
  private sinceRefresh = 0;

  beginBlock(start: number, end: number): void {
    this.announced = { start, end };
  }

  async forward(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    if (this.busy) throw new Error('CachedDenoiser: one forward at a time');
    this.busy = true;
    try {
      const result = this.needsRefresh(canvas, positions) ? await this.refresh(canvas, positions) : await this.runStep(canvas, positions);
      this.last = [...canvas];
      return result;
    } finally {
      this.busy = false;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([this.context.release(), this.step.release()]);
  }

  private needsRefresh(canvas: readonly number[], positions: readonly number[]): boolean {
    if (this.sinceRefresh >= this.stepsPerRefresh || !this.kv || !this.window || this.announced || canvas.length !== this.cached.length) return true;
    const { start, end } = this.window;
    for (let i = 0; i < canvas.length; i++) {
      if (canvas[i] === this.mask && this.last[i] !== this.mask) return true; // re-masked: another decode
      if ((i < start || i >= end) && canvas[i] !== this.cached[i]) return true;
    }
    return positions.some((p) => (p < start || p >= end) && !this.stale.has(p));
  }

  private async refresh(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    const out = await this.context.run({ input_ids: ids(canvas), positions: ids(positions) }, [...GRAPH_OUTPUTS, this.kvOutput]);
    this.kv = out[this.kvOutput];
    this.cached = [...canvas];
    const spanEnd = positions.length ? Math.max(...positions) + 2 : canvas.length;
    this.window = this.announced ?? { start: positions.length ? Math.min(...positions) : 0, end: spanEnd };
    this.window = { start: Math.max(0, this.window.start - this.windowMargin), end: Math.min(canvas.length, this.window.end + this.windowMargin) };
    this.announced = undefined;
    const predictions = readPredictions(out, positions.length, this.topK, true);
    this.stale = new Map(positions.map((p, j) => [p, predictions[j]]));
    this.stats.refreshes++;
    this.sinceRefresh = 0;
    return predictions;
  }

  private async runStep(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    const { start, end } = this.window!;
    const inside = positions.filter((p) => p >= start && p < end);
    let fresh: Prediction[] = [];
    if (inside.length) {
      const out = await this.step.run({
        input_ids: ids(canvas.slice(start, end)), start: new ort.Tensor('int64', BigInt64Array.from([BigInt(start)]), [1]),
        kv: this.kv!, positions: ids(inside),
      }, [...GRAPH_OUTPUTS]);
      fresh = readPredictions(out, inside.length, this.topK, false);
      this.stats.steps++;
      this.sinceRefresh++;
    }
    const byRow = new Map(inside.map((p, j) => [p, fresh[j]]));
    return positions.map((p) => byRow.get(p) ?? this.stale.get(p)!);
  }
}

function ids(xs: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(xs, (x) => BigInt(x)), [1, xs.length]);
}

/** The contract's outputs as Predictions; `copy` when they are kept past the next run. */
export function readPredictions(out: ort.InferenceSession.OnnxValueMapType, n: number, k: number, copy: boolean): Prediction[] {
  const topIds = out.top_ids?.data as BigInt64Array | undefined;
  const probs = out.top_probs?.data as Float32Array | undefined;
  const entropy = out.entropy?.data as Float32Array | undefined;
  if (!topIds || !probs || !entropy || topIds.length !== n * k || probs.length !== n * k || entropy.length !== n) {
    throw new Error(`the graph's outputs do not have the contract's shapes ([1, ${n}, ${k}] and [1, ${n}])`);
  }
  const result: Prediction[] = [];
  for (let j = 0; j < n; j++) {
    const rowIds = new Int32Array(k);
    for (let i = 0; i < k; i++) rowIds[i] = Number(topIds[j * k + i]);
    const p = probs.subarray(j * k, (j + 1) * k);
    result.push({ ids: rowIds, probs: copy ? Float32Array.from(p) : p, entropy: entropy[j] });
  }
  return result;
}
