// The canvas: prefix tokens · N mask slots · suffix tokens, cut to the model's length by keeping
// the text nearest the cursor (laid out as training lays out infill samples).
import type { ModelSpec } from './types';

/** Slot budgets of the editor's defaults, the CLI and the benchmark: inside a line, at a line's end. */
export const DEFAULT_SLOTS = { singleLine: 24, multiLine: 64 } as const;

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
const SUFFIX_SHARE = 0.35;

export function buildCanvas(prefixIds: readonly number[], suffixIds: readonly number[], slots: number, model: ModelSpec): Canvas {
  if (!Number.isInteger(slots) || slots < 1) throw new Error(`slots must be a positive integer, got ${slots}`);
  // a shifted model reads slot i's prediction at i−1, so something must precede slot 0
  const lead = model.logitsShift > 0 && prefixIds.length < model.logitsShift
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
