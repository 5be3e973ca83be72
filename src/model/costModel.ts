// The model's cost on this machine (docs/architecture.md, "The plan"): milliseconds per forward as a function of the
// rows computed and the cached rows they attend to, measured once per model folder, thread count and CPU, fitted to
// src/engine/plan.ts's ForwardCostFit, and cached beside the model (the load cache, src/model/loadCache.ts).
import * as os from 'node:os';
import { ort } from './ort';
import type { ForwardCost, ForwardCostFit } from '../engine/plan';
import type { ModelGraph } from './modelGraph';

/** The measured points: full forwards of these many rows, and cached steps of these rows against these pasts. */
const FULL_ROWS = [32, 128, 384];
const STEP_ROWS = [16, 32];
const STEP_PAST = [256, 1024];
/** Predictions wanted per forward while measuring (a line's slots: the gathered head's cost is in the fit). */
const WANTED = 24;
/** Besides the forwards, per request (tokenizing a few thousand characters, shaping, messages): measured on the bundled model. */
const OVERHEAD_MS = 5;

/** A name for this machine's CPU: a cost measured on another CPU is measured again. */
export function cpuKey(): string {
  const cpus = os.cpus();
  return `${os.arch()} ${cpus[0]?.model ?? 'unknown'} ×${cpus.length}`;
}

/** Least squares of ms ≈ a + b·rows + c·rows·(rows + past) over the points. */
export function fitCost(points: readonly { rows: number; past: number; ms: number }[]): ForwardCostFit {
  // normal equations of the 3-column design [1, rows, rows·(rows+past)]
  const X = points.map((p) => [1, p.rows, p.rows * (p.rows + p.past)]);
  const XtX = [0, 1, 2].map((i) => [0, 1, 2].map((j) => X.reduce((s, x) => s + x[i] * x[j], 0)));
  const Xty = [0, 1, 2].map((i) => X.reduce((s, x, k) => s + x[i] * points[k].ms, 0));
  const [a, b, c] = solve3(XtX, Xty);
  // a negative term would make small canvases look free: keep each term at least 0 (refit without it would be exact,
  // but the points are far apart and the clamp changes little)
  return { a: Math.max(0, a), b: Math.max(0, b), c: Math.max(0, c) };
}

function solve3(A: number[][], y: number[]): number[] {
  const m = A.map((row, i) => [...row, y[i]]);
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    if (Math.abs(m[col][col]) < 1e-12) return [0, 0, 0];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r][col] / m[col][col];
      for (let k = col; k < 4; k++) m[r][k] -= f * m[col][k];
    }
  }
  return [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
}

/** The faster of `times` runs of `run` (the first run of a graph warms it up: measureCost runs a small one first). */
async function timed(run: () => Promise<unknown>, times = 2): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return Math.min(...ms);
}

export interface CostMeasurement extends ForwardCost {
  cpu: string;
  points: { full: { rows: number; ms: number }[]; step: { rows: number; past: number; ms: number }[] };
  /** A cached step of BATCHED.rows rows against BATCHED.past, with a batch of 1, 2 and 4 canvases (draft-and-verify's cost). */
  batched: { batch: number; ms: number }[];
  /** How busy the machine was when this was measured: the 1-minute load average per core (`machineLoad`). */
  load?: number;
}

/** The 1-minute load average per core (0 where the platform has none, as on Windows). */
export function machineLoad(): number {
  return os.loadavg()[0] / Math.max(1, os.cpus().length);
}

/**
 * Whether a cached cost should be measured again: it was measured while other work held most of the cores, and the
 * machine is quiet now. A busy measurement makes every plan too small and can pick the wrong thread count (one thread
 * measured faster than two while a build ran), and the cache would keep that choice for good.
 */
export const REMEASURE = { busyAt: 0.75, quietBelow: 0.4 } as const;
export function measuredBusy(cost: Pick<CostMeasurement, 'load'>, loadNow: number): boolean {
  return (cost.load ?? 0) >= REMEASURE.busyAt && loadNow < REMEASURE.quietBelow;
}

/** The batched step measured for draft-and-verify: a line's slots against a short context. */
const BATCHED = { rows: 16, past: 256, batches: [1, 2, 4] } as const;

/** Measures `graph` (its session's thread count is `threads`) on canvases of token `fill`, within its `maxSequence`. */
export async function measureCost(graph: ModelGraph, threads: number, fill: number, maxSequence: number): Promise<CostMeasurement> {
  const load = machineLoad();
  const ids = (n: number) => new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(fill)), [1, n]);
  const wanted = (start: number, n: number) => Array.from({ length: Math.min(WANTED, n) }, (_, i) => start + i);
  await graph.run({ ids: ids(8), start: 0, positions: [0] }); // warm-up
  const full: { rows: number; ms: number }[] = [];
  for (const rows of FULL_ROWS.filter((r) => r <= maxSequence)) {
    const input = ids(rows);
    full.push({ rows, ms: await timed(() => graph.run({ ids: input, start: 0, positions: wanted(0, rows) })) });
  }
  const step: { rows: number; past: number; ms: number }[] = [];
  for (const past of STEP_PAST.filter((p) => p + Math.max(...STEP_ROWS) <= maxSequence)) {
    const kv = graph.emptyPast(past);
    for (const rows of STEP_ROWS) {
      const input = ids(rows);
      step.push({ rows, past, ms: await timed(() => graph.run({ ids: input, start: past, past: kv, positions: wanted(past, rows) })) });
    }
  }
  const batched: { batch: number; ms: number }[] = [];
  if (BATCHED.past + BATCHED.rows <= maxSequence) {
    for (const batch of BATCHED.batches) {
      const kv = graph.emptyPast(BATCHED.past, batch);
      const input = new ort.Tensor('int64', new BigInt64Array(batch * BATCHED.rows).fill(BigInt(fill)), [batch, BATCHED.rows]);
      batched.push({ batch, ms: await timed(() => graph.run({ ids: input, start: BATCHED.past, past: kv, positions: wanted(BATCHED.past, BATCHED.rows) })) });
    }
  }
  return {
    load: Math.round(load * 100) / 100,
    batched,
    full: fitCost(full.map((p) => ({ ...p, past: 0 }))),
    step: step.length ? fitCost(step) : fitCost(full.map((p) => ({ ...p, past: 0 }))),
    overheadMs: OVERHEAD_MS,
    threads,
    cpu: cpuKey(),
    points: { full, step },
  };
}
