// The dual cache (Fast-dLLM, arXiv 2505.22618; docs/model-contract.md, "Dual cache") as a Denoiser: a refresh runs
// the graph over the whole canvas and keeps every layer's keys and values (its `kv` output); the steps after it run
// the same graph over the open block's rows only, with the cached keys and values of the other rows as `past_kv`. The cache is refreshed once per block (the engine's beginBlock), and whenever the canvas changed
// outside the block's rows or a token went back to the mask (a new decode): never a stale canvas, only stale keys.
import { ort } from './ort';
import type { Denoiser, Prediction } from '../engine/types';
import type { ModelGraph } from './modelGraph';

export interface CacheStats {
  /** Forwards over the whole canvas (a refresh of the cache). */
  refreshes: number;
  /** Forwards over the window only, against the cache. */
  steps: number;
}

interface Rows {
  start: number;
  end: number;
}

export class CachedDenoiser implements Denoiser {
  readonly stats: CacheStats = { refreshes: 0, steps: 0 };
  /** The refresh's keys and values without the window's rows: the past of every step until the next refresh. */
  private past?: ort.Tensor;
  private cached: number[] = [];
  private last: number[] = [];
  private window?: Rows;
  private announced?: Rows;
  /** Predictions of the last refresh, by row: the answer for rows outside the window (Fast-dLLM reuses them too). */
  private stale = new Map<number, Prediction>();
  private busy = false;

  /**
   * @param mask the mask id: a row that held another token and holds the mask again means a new canvas
   * @param stepsPerRefresh at most this many window forwards after a refresh before the next one (the rule that
   *   bounds how stale the prefix and suffix keys get); 0 refreshes at every forward (the cache then changes nothing)
   * @param windowMargin rows of the prefix and of the suffix next to the block that each step recomputes with it
   *   (so the keys nearest a commit follow it); 0: the block's rows only
   */
  constructor(
    readonly graph: ModelGraph,
    readonly mask: number,
    readonly stepsPerRefresh = Infinity,
    readonly windowMargin = 0,
  ) {}
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
    await this.graph.release();
  }

  private needsRefresh(canvas: readonly number[], positions: readonly number[]): boolean {
    if (this.sinceRefresh >= this.stepsPerRefresh || !this.past || !this.window || this.announced || canvas.length !== this.cached.length) return true;
    const { start, end } = this.window;
    for (let i = 0; i < canvas.length; i++) {
      if (canvas[i] === this.mask && this.last[i] !== this.mask) return true; // re-masked: another decode
      if ((i < start || i >= end) && canvas[i] !== this.cached[i]) return true;
    }
    return positions.some((p) => (p < start || p >= end) && !this.stale.has(p));
  }

  private async refresh(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    const { predictions, kv } = await this.graph.run({ ids: ids(canvas), start: 0, positions, withKv: true, copy: true });
    this.cached = [...canvas];
    const spanEnd = positions.length ? Math.max(...positions) + 2 : canvas.length;
    this.window = this.announced ?? { start: positions.length ? Math.min(...positions) : 0, end: spanEnd };
    this.window = { start: Math.max(0, this.window.start - this.windowMargin), end: Math.min(canvas.length, this.window.end + this.windowMargin) };
    this.announced = undefined;
    // built once per refresh: the window is fixed until the next one, and so are the rows outside it
    this.past = this.graph.pastWithout(kv!, this.window.start, this.window.end);
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
      fresh = (await this.graph.run({ ids: ids(canvas.slice(start, end)), start, past: this.past, positions: inside })).predictions;
      this.stats.steps++;
      this.sinceRefresh++;
    }
    const byRow = new Map(inside.map((p, j) => [p, fresh[j]]));
    return positions.map((p) => byRow.get(p) ?? this.stale.get(p)!);
  }
}

function ids(xs: readonly number[]): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(xs, (x) => BigInt(x)),
    [1, xs.length],
  );
}
