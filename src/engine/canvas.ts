// The canvas: prefix tokens · N mask slots · suffix tokens, cut to the model's length by keeping the text nearest
// the cursor. This is the one truncation rule (docs/architecture.md, "The canvas"); its numbers live in
// defaults.json, which the Python side reads too.
import defaults from './defaults.json';
import type { ModelSpec } from './types';

/** Slot budgets when the model folder names none: inside a line, at a line's end. */
export const DEFAULT_SLOTS: Readonly<SlotBudgets> = defaults.slots;

export interface SlotBudgets {
  singleLine: number;
  multiLine: number;
}

/** The slot budget of a request's shape: the model's own (unmask.json `slots`) or the defaults. */
export function slotBudget(model: Pick<ModelSpec, 'slots'>, singleLine: boolean): number {
  const budgets = model.slots ?? DEFAULT_SLOTS;
  return singleLine ? budgets.singleLine : budgets.multiLine;
}

/**
 * Characters of text on each side of the cursor worth tokenizing for a model of `maxSequence` tokens: a bound on
 * the work, far above what fits (no token is that long), not a truncation rule; the canvas cuts by tokens.
 */
export function contextChars(maxSequence: number): number {
  return maxSequence * defaults.contextCharsPerToken;
}

export interface Canvas {
  /** Token ids; slots hold the mask id until unmasked. */
  ids: number[];
  /** Canvas index of slot 0. */
  slotStart: number;
  slots: number;
  /** The prefix and suffix tokens that made it in. */
  prefixIds: number[];
  suffixIds: number[];
}

/** The suffix's share of the room left after the slots, when both sides must be cut. */
const SUFFIX_SHARE = defaults.suffixShare;

export function buildCanvas(prefixIds: readonly number[], suffixIds: readonly number[], slots: number, model: ModelSpec): Canvas {
  if (!Number.isInteger(slots) || slots < 1) throw new Error(`slots must be a positive integer, got ${slots}`);
  // a shifted model reads slot i's prediction at i−1, so something must precede slot 0
  const lead =
    model.logitsShift > 0 && prefixIds.length < model.logitsShift
      ? new Array<number>(model.logitsShift - prefixIds.length).fill(model.tokens.bos ?? model.tokens.eos)
      : [];
  const room = model.maxSequence - slots - lead.length;
  if (room < 0) throw new Error(`${slots} slots do not fit the model's maximum sequence of ${model.maxSequence} tokens`);
  let s = Math.min(suffixIds.length, Math.max(Math.floor(room * SUFFIX_SHARE), room - prefixIds.length));
  const p = Math.min(prefixIds.length, room - s);
  s = Math.min(suffixIds.length, room - p);
  const pre = [...lead, ...prefixIds.slice(prefixIds.length - p)];
  const suf = suffixIds.slice(0, s);
  return {
    ids: [...pre, ...new Array<number>(slots).fill(model.tokens.mask), ...suf],
    slotStart: pre.length,
    slots,
    prefixIds: prefixIds.slice(prefixIds.length - p),
    suffixIds: suf,
  };
}
