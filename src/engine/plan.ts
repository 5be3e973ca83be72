// Every request planned to its time budget before the first forward (docs/architecture.md, "The plan"): from the
// model's measured cost (src/model/costModel.ts) decide how many tokens of context the canvas keeps and how many
// slots it opens, so that the whole decode fits the budget even at one token per forward. Context is given up
// before slots, and slots only down to a floor; a first forward that cannot finish inside the budget is never
// started on a larger canvas than the floor's. Pure: the engine reads the cost, it does not measure it.
import type { TracePlan } from '../protocol';

/** Milliseconds of one forward, fitted to measurements (costModel.ts): a + b·rows + c·rows·(rows + past). */
export interface ForwardCostFit {
  a: number;
  b: number;
  c: number;
}

/** A model's cost on this machine at its thread count. */
export interface ForwardCost {
  /** A forward over `rows` rows with no past (the first forward, or every forward without the cache). */
  full: ForwardCostFit;
  /** A cached step: `rows` rows against `past` cached rows. */
  step: ForwardCostFit;
  /** Fixed milliseconds per request besides the forwards (tokenizing, shaping, messages). */
  overheadMs: number;
  threads: number;
  /**
   * How much slower than measured the forwards run now (other work on the machine): learnt from each decode's
   * forwards by `observeForwards`, 1 when absent. Every plan multiplies the fits by it.
   */
  slowdown?: number;
}

/** The bounds of `slowdown`, and the weight of the newest observation in its moving average. */
export const SLOWDOWN = { min: 0.5, max: 20, weight: 0.5 } as const;

export const fitMs = (f: ForwardCostFit, rows: number, past = 0): number => f.a + f.b * rows + f.c * rows * (rows + past);

/**
 * Learns the machine's current speed from a decode: the forwards took `actualMs` where the fits (without slowdown)
 * predict `fittedMs`. A busy machine makes the next plan smaller instead of overshooting its budget again.
 */
export function observeForwards(cost: ForwardCost, fittedMs: number, actualMs: number): void {
  if (!(fittedMs > 0) || !(actualMs > 0)) return;
  const seen = actualMs / fittedMs;
  const next = (1 - SLOWDOWN.weight) * (cost.slowdown ?? 1) + SLOWDOWN.weight * seen;
  cost.slowdown = Math.min(SLOWDOWN.max, Math.max(SLOWDOWN.min, next));
}

/** The floors a plan keeps whatever the budget: the promise to the user (a line keeps its slots and some context). */
export const PLAN_FLOORS = { slots: 16, contextTokens: 256, hardContextTokens: 32 } as const;

export interface PlanInput {
  budgetMs: number;
  /** Tokens available before and after the cursor (already cut to what the model's length allows). */
  prefixTokens: number;
  suffixTokens: number;
  /** Slots asked for. */
  slots: number;
  /** Whether steps after the first forward run against the cache (only the open block is computed). */
  cached: boolean;
  /** The model's longest canvas. */
  maxSequence: number;
}

/** The decode's cost at one token per forward: one full forward, then `slots − 1` steps. */
export function decodeMs(
  cost: ForwardCost,
  contextTokens: number,
  slots: number,
  cached: boolean,
  steps = slots,
): { first: number; step: number; total: number } {
  const k = cost.slowdown ?? 1;
  const first = k * fitMs(cost.full, contextTokens + slots);
  const step = cached ? k * fitMs(cost.step, slots, contextTokens) : first;
  return { first, step, total: cost.overheadMs + first + Math.max(0, steps - 1) * step };
}

/** The plan, as the trace carries it (TracePlan: context kept of available, slots, expected ms, budget). */
export function planRequest(cost: ForwardCost, input: PlanInput): TracePlan {
  const available = Math.min(input.prefixTokens + input.suffixTokens, Math.max(0, input.maxSequence - input.slots));
  const fits = (context: number, slots: number) => decodeMs(cost, context, slots, input.cached).total <= input.budgetMs;
  const result = (contextTokens: number, slots: number): TracePlan => {
    const { first, total } = decodeMs(cost, contextTokens, slots, input.cached);
    return {
      contextTokens,
      slots,
      firstForwardMs: Math.round(first),
      expectedMs: Math.round(total),
      budgetMs: input.budgetMs,
      contextAvailable: available,
      shrunk: contextTokens < available || slots < input.slots,
    };
  };
  if (fits(available, input.slots)) return result(available, input.slots);
  // 1. context, down to its floor
  const contextFloor = Math.min(available, PLAN_FLOORS.contextTokens);
  if (fits(contextFloor, input.slots))
    return result(
      largestFitting(contextFloor, available, (c) => fits(c, input.slots)),
      input.slots,
    );
  // 2. slots, down to theirs
  const slotFloor = Math.min(input.slots, PLAN_FLOORS.slots);
  for (let s = input.slots - 1; s >= slotFloor; s--) if (fits(contextFloor, s)) return result(contextFloor, s);
  // 3. the floors do not fit: at least the first forward must, so the context goes below its floor until it does
  const firstFits = (c: number) => decodeMs(cost, c, slotFloor, input.cached).first <= input.budgetMs;
  const hardFloor = Math.min(available, PLAN_FLOORS.hardContextTokens);
  if (firstFits(contextFloor)) return result(contextFloor, slotFloor);
  return result(firstFits(hardFloor) ? largestFitting(hardFloor, contextFloor, firstFits) : hardFloor, slotFloor);
}

/** The largest n in [lo, hi] with ok(n), given ok(lo) and ok monotone (true up to some n, false after). */
function largestFitting(lo: number, hi: number, ok: (n: number) => boolean): number {
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The `auto` time budget: what a completion costs this model at twice the floors' context, with room, within a floor
 * and a cap; a block of lines gets half as much again. The cap is 1.5 s a line: on this project's 2-core CPU the 0.5B
 * model's line at the floors (256 context tokens, 16 slots) costs 1.9–2.4 s at one token per forward (prefill at the
 * CPU's int8 limit, each step bound by reading the weights: docs/benchmarks.md, "Latency"), so a decode that has not
 * finished by then has its last forward that fits fill the slots left (decode.ts), and the gate decides whether that
 * is worth showing; a trained model commits more than one token per forward and mostly finishes before.
 */
export const AUTO_BUDGET = { floorMs: 1000, capMs: 1500, margin: 1.25, multiLineFactor: 1.5 } as const;

export function autoBudgetMs(cost: ForwardCost | undefined, slots: number, cached: boolean, singleLine = true): number {
  const scale = singleLine ? 1 : AUTO_BUDGET.multiLineFactor;
  if (!cost) return AUTO_BUDGET.capMs * scale;
  const ms = decodeMs(cost, 2 * PLAN_FLOORS.contextTokens, slots, cached).total * AUTO_BUDGET.margin;
  return Math.round(Math.min(AUTO_BUDGET.capMs * scale, Math.max(AUTO_BUDGET.floorMs * scale, ms)));
}
