// The dual cache (Fast-dLLM, arXiv 2505.22618; docs/model-contract.md, "Dual cache") as a Denoiser: a refresh runs
// the graph over the whole canvas and keeps every layer's keys and values (its `kv` output); the steps after it run
// the same graph over the open block's rows only, with the cached keys and values of the other rows as `past_kv`. The cache is refreshed once per block (the engine's beginBlock), and whenever the canvas changed
// outside the block's rows or a token went back to the mask (a new decode): never a stale canvas, only stale keys.
import { ort } from './ort';
import type { Denoiser, Prediction } from '../engine/types';
import type { ModelGraph } from './modelGraph';
import { batchExact } from './onnxDenoiser';
import { alignCanvases, joinRows, rowDrift, type RowSource } from './kvReuse';

/**
 * Reuse across keystrokes, the rule (measured: docs/benchmarks.md, "Reuse across keystrokes"): a decode's first
 * forward takes the rows it shares with the last canvas from the cache when they are at least `minShare` of the canvas,
 * recomputing `margin` reused rows on each side of what changed (the keys nearest an edit move most), and the whole
 * canvas again after `refreshEvery` reusing forwards in a row (staleness would otherwise add up). The drift test
 * (`maxDrift`, off by default) computes the whole canvas instead when the rows recomputed next to the reused ones
 * moved more than that (lastDrift): measured on the bundled model it reaches 95% equal text only by refusing 4 reuses
 * in 5, and each refused one costs its forward again, so it is off (docs/benchmarks.md).
 */
export const REUSE = { minShare: 0.5, margin: 32, refreshEvery: 4, probeRows: 4, maxDrift: Infinity } as const;

export interface CacheStats {
  /** Forwards over the whole canvas (a refresh of the cache). */
  refreshes: number;
  /** Forwards over the window only, against the cache. */
  steps: number;
  /** First forwards of a decode that took rows from the last decode's canvas (reuse across keystrokes). */
  reusing: number;
  /** First forwards whose reuse the drift test refused (the whole canvas computed after them). */
  drifted: number;
}

interface Rows {
  start: number;
  end: number;
}

/** A reusing first forward's plan: compute rows [a, b); take `before` and `after` from the last cache; `probe`: the
 * recomputed old rows next to the reused ones (where they are now, in the forward's rows, and were, in the last cache). */
interface ReusePlan {
  a: number;
  b: number;
  before: RowSource;
  after: RowSource;
  probe: { now: Omit<RowSource, 'kv'>; was: Omit<RowSource, 'kv'> }[];
}

export class CachedDenoiser implements Denoiser {
  readonly stats: CacheStats = { refreshes: 0, steps: 0, reusing: 0, drifted: 0 };
  /** The drift test's bound (REUSE.maxDrift; lastDrift past it: the reused rows are not used). */
  maxDrift: number = REUSE.maxDrift;
  /** The last refresh's canvas and every row's keys and values, in canvas order: what the next decode may reuse. */
  private full?: { canvas: number[]; kv: ort.Tensor; after: number };
  /** Whether the next refresh is a decode's first, and may reuse (beginDecode). */
  private reuseNext = false;
  private reusedInARow = 0;
  /** Rows the current decode's first forward took from the last canvas (undefined: it computed every row). */
  private reusedRows?: number;
  /** The current decode's reuse drift: the largest ‖new − old‖ / ‖old‖ of keys and values over the recomputed rows
   * next to the reused ones (up to REUSE.probeRows a side; undefined: nothing reused or no such row). */
  lastDrift?: number;
  /** The refresh's keys and values without the window's rows: the past of every step until the next refresh. */
  private past?: ort.Tensor;
  private cached: number[] = [];
  private last: number[] = [];
  private window?: Rows;
  private announced?: Rows;
  /** Predictions of the last refresh, by row: the answer for rows outside the window (Fast-dLLM reuses them too). */
  private stale = new Map<number, Prediction>();
  private busy = false;
  /** The last forwardBatch's rows (for acceptRows), whether it ran a step, and sinceRefresh before it. */
  private batchRows: (readonly number[])[] = [];
  private batchSteps = 0;
  private batchBase = 0;
  /** The past repeated for a batch of `rows` (rebuilt after each refresh). */
  private repeated?: { rows: number; past: ort.Tensor };

  /**
   * @param mask the mask id: a row that held another token and holds the mask again means a new canvas
   * @param stepsPerRefresh at most this many window forwards after a refresh before the next one (the rule that
   *   bounds how stale the prefix and suffix keys get); 0 refreshes at every forward (the cache then changes nothing)
   * @param windowMargin rows of the prefix and of the suffix next to the block that each step recomputes with it
   *   (so the keys nearest a commit follow it); 0: the block's rows only
   * @param invFreq the model's rotary frequencies (kvReuse.ts rotaryFrequencies): with them a reused row may move to
   *   another position; without, only rows at the same position are reused
   */
  constructor(
    readonly graph: ModelGraph,
    readonly mask: number,
    readonly stepsPerRefresh = Infinity,
    readonly windowMargin = 0,
    readonly invFreq?: Float64Array,
  ) {}

  /** A new decode starts: its first forward may take rows from the last decode's canvas (`reuse`), or must not. */
  beginDecode(options: { reuse: boolean }): void {
    this.reuseNext = options.reuse;
    this.reusedRows = undefined;
    this.lastDrift = undefined;
    if (!options.reuse) this.full = undefined;
  }

  /** Rows the current decode's first forward took from the last canvas (undefined: it computed every row). */
  reused(): number | undefined {
    return this.reusedRows;
  }
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

  /**
   * Draft-and-verify's batch (Denoiser.forwardBatch): a refresh runs alone on the first row; otherwise the rows that
   * a step would serve from the same cache (canvas unchanged outside the window, no row masked again, within
   * stepsPerRefresh) run as one step with batch B against the same past, repeated B times.
   */
  async forwardBatch(canvases: readonly (readonly number[])[], positions: readonly number[]): Promise<Prediction[][]> {
    if (canvases.length === 1 || this.needsRefresh(canvases[0], positions)) {
      this.batchRows = [canvases[0]];
      this.batchSteps = 0;
      return [await this.forward(canvases[0], positions)];
    }
    if (this.busy) throw new Error('CachedDenoiser: one forward at a time');
    this.busy = true;
    try {
      const last = this.last;
      let rows = 1;
      const room = this.stepsPerRefresh - this.sinceRefresh;
      while (rows < canvases.length && rows < room) {
        this.last = [...canvases[rows - 1]];
        if (this.needsRefresh(canvases[rows], positions)) break;
        rows++;
      }
      this.last = last;
      const { start, end } = this.window!;
      const inside = positions.filter((p) => p >= start && p < end);
      const width = end - start;
      const flat = new BigInt64Array(rows * width);
      for (let b = 0; b < rows; b++) for (let i = 0; i < width; i++) flat[b * width + i] = BigInt(canvases[b][start + i]);
      let fresh: Prediction[] = [];
      if (inside.length) {
        if (this.repeated?.rows !== rows) this.repeated = { rows, past: this.graph.repeatPast(this.past!, rows) };
        const ids = new ort.Tensor('int64', flat, [rows, width]);
        fresh = (await this.graph.run({ ids, start, past: this.repeated.past, positions: inside, copy: true })).predictions;
      }
      const out: Prediction[][] = [];
      for (let b = 0; b < rows; b++) {
        const byRow = new Map(inside.map((p, j) => [p, fresh[b * inside.length + j]]));
        out.push(positions.map((p) => byRow.get(p) ?? this.stale.get(p)!));
      }
      this.batchRows = canvases.slice(0, rows);
      this.batchSteps = inside.length ? 1 : 0;
      this.batchBase = this.sinceRefresh;
      if (inside.length) this.stats.steps++;
      this.acceptRows(rows);
      return out;
    } finally {
      this.busy = false;
    }
  }

  batchExact(canvas: readonly number[], positions: readonly number[]): Promise<boolean> {
    return batchExact(this.graph, canvas, positions);
  }

  /** After forwardBatch: the state as if `forward` had run on its first `rows` rows only. */
  acceptRows(rows: number): void {
    const used = this.batchRows.slice(0, Math.max(1, rows));
    if (!used.length) return;
    this.last = [...used[used.length - 1]];
    if (this.batchSteps) {
      // each row used is one step of the reference's count (stepsPerRefresh); the batch was one forward (stats)
      this.sinceRefresh = this.batchBase + used.length;
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
    const spanEnd = positions.length ? Math.max(...positions) + 2 : canvas.length;
    const window = this.announced ?? { start: positions.length ? Math.min(...positions) : 0, end: spanEnd };
    this.window = { start: Math.max(0, window.start - this.windowMargin), end: Math.min(canvas.length, window.end + this.windowMargin) };
    const reuseHi = Math.max(this.window.end, ...positions.map((p) => p + 1));
    const reuse = this.reuseNext ? this.reusePlan(canvas, Math.min(this.window.start, ...positions), reuseHi) : undefined;
    this.reuseNext = false;
    const fromReuse = reuse ? await this.reuseForward(canvas, positions, reuse) : undefined;
    if (!fromReuse) this.reusedInARow = 0;
    const { predictions, kv } =
      fromReuse ??
      ((await this.graph.run({ ids: ids(canvas), start: 0, positions, withKv: true, copy: true })) as { predictions: Prediction[]; kv: ort.Tensor });
    this.full = { canvas: [...canvas], kv, after: reuseHi };
    this.cached = [...canvas];
    this.announced = undefined;
    // built once per refresh: the window is fixed until the next one, and so are the rows outside it
    this.past = this.graph.pastWithout(kv, this.window.start, this.window.end);
    this.repeated = undefined;
    this.stale = new Map(positions.map((p, j) => [p, predictions[j]]));
    this.stats.refreshes++;
    this.sinceRefresh = 0;
    return predictions;
  }

  /**
   * A decode's first forward with reuse: the rows that changed and the slots, against the reused rows' keys and values
   * (moved to their new positions), and the new full cache with them spliced in; undefined when the drift test refuses
   * it (the caller then computes the whole canvas).
   */
  private async reuseForward(
    canvas: readonly number[],
    positions: readonly number[],
    { a, b, before, after, probe }: ReusePlan,
  ): Promise<{ predictions: Prediction[]; kv: ort.Tensor } | undefined> {
    const invFreq = this.invFreq ?? new Float64Array();
    // the reused rows, moved once: the past of this forward, and with its rows spliced in, the new full cache
    const moved = joinRows([before, after], invFreq);
    const out = await this.graph.run({ ids: ids(canvas.slice(a, b)), start: a, past: moved, positions, withKv: true, copy: true });
    // the drift test: how far the edit moved the recomputed rows next to the reused ones (new keys and values against
    // the old); past maxDrift the reused rows are taken to have moved too
    const rowsOf = (side: 'now' | 'was', kv: ort.Tensor) =>
      joinRows(
        probe.map((p) => ({ ...p[side], kv })),
        invFreq,
      );
    this.lastDrift = probe.length ? Math.max(...rowDrift(rowsOf('now', out.kv!), rowsOf('was', this.full!.kv))) : undefined;
    if ((this.lastDrift ?? 0) > this.maxDrift) {
      this.stats.drifted++;
      return undefined;
    }
    this.reusedRows = before.count + after.count;
    this.reusedInARow++;
    this.stats.reusing++;
    const kv = joinRows(
      [
        { kv: moved, from: 0, count: before.count, shift: 0 },
        { kv: out.kv!, from: 0, count: b - a, shift: 0 },
        { kv: moved, from: before.count, count: after.count, shift: 0 },
      ],
      new Float64Array(),
    );
    return { predictions: out.predictions, kv };
  }

  /**
   * Which rows of a decode's first forward the last canvas can give (REUSE's rule), given the rows [lo, hi) that must
   * be computed (the window and the wanted positions); undefined: compute the whole canvas.
   */
  private reusePlan(canvas: readonly number[], lo: number, hi: number): ReusePlan | undefined {
    const full = this.full;
    if (!full || this.reusedInARow >= REUSE.refreshEvery) return undefined;
    const { head, slide, tail, tailFrom } = alignCanvases(full.canvas, canvas, { prev: full.after, next: hi });
    const n = canvas.length;
    const moves = (shift: number) => shift === 0 || this.invFreq !== undefined;
    // new row n − tail + j is old row tailFrom + j: it moves by n − tail − tailFrom
    const tailShift = n - tail - tailFrom;
    const a = Math.max(0, Math.min(lo, moves(-slide) ? head - REUSE.margin : 0));
    const b = Math.min(n, Math.max(hi, moves(tailShift) ? n - tail + REUSE.margin : n));
    if (a + (n - b) < REUSE.minShare * n) return undefined;
    // the drift test's rows: up to probeRows recomputed old rows on each side, the nearest to the reused ones
    const probe: ReusePlan['probe'] = [];
    const headProbe = Math.max(0, Math.min(REUSE.probeRows, head - a));
    if (a > 0 && headProbe) probe.push({ now: { from: 0, count: headProbe, shift: 0 }, was: { from: slide + a, count: headProbe, shift: -slide } });
    const tailProbe = Math.max(0, Math.min(REUSE.probeRows, b - (n - tail)));
    if (b < n && tailProbe)
      probe.push({
        now: { from: b - a - tailProbe, count: tailProbe, shift: 0 },
        was: { from: tailFrom + (b - tailProbe - (n - tail)), count: tailProbe, shift: tailShift },
      });
    return {
      probe,
      a,
      b,
      before: { kv: full.kv, from: slide, count: a, shift: -slide },
      after: { kv: full.kv, from: tailFrom + (b - (n - tail)), count: n - b, shift: tailShift },
    };
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
