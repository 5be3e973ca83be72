// Lossless draft-and-verify (FreeDave, arXiv 2510.00294; Spiffy, arXiv 2509.18085; docs/architecture.md,
// "Draft-and-verify"): before a forward, the loop drafts the steps its policy would take next if the last forward's
// top choices held, and runs the canvas and the drafted canvases as one batched forward. A drafted step is kept only
// when the policy, deciding on the verified predictions of the row before it, makes exactly the drafted choice (the
// same slots, the same tokens, no stop): the text and the order of unmasking are the wrapped policy's, only the number
// of forwards changes. This file drafts; decode.ts verifies.
import type { StopReason } from '../protocol';
import type { Candidate } from './types';
import { BOUNDS } from './bounds';

export const MASKED = -1;
/** The widest batch a request may ask for (canvases per batched forward). */
export const MAX_DRAFT = BOUNDS.draft.max;

/** The batch width in force: a number asks for it (1: off), 'auto' takes the model's measured choice (1 where none). */
export function draftWidth(draft: number | 'auto' | undefined, modelChoice: number | undefined): number {
  const k = draft === 'auto' ? (modelChoice ?? 1) : (draft ?? 1);
  return Number.isFinite(k) ? Math.max(1, Math.min(MAX_DRAFT, Math.floor(k))) : 1;
}

/**
 * The model's K for `+draft` (auto), from its measured batched steps (costModel.ts): the widest batch that costs at
 * most PAYS times one forward, 1 where none does. A batch of K saves forwards only as far as its drafts are accepted
 * (the bundled model, fp32, sequential: 1.41× fewer forwards at K = 4, docs/benchmarks.md), so a batch that costs
 * about as much as its rows (a CPU) never pays, and one that costs little more than a single forward (a GPU) does.
 */
export const DRAFT_PAYS = 1.25;
export function chooseDraftWidth(batched: readonly { batch: number; ms: number }[]): number {
  const one = batched.find((b) => b.batch === 1)?.ms;
  if (!one || !(one > 0)) return 1;
  const paying = batched.filter((b) => b.batch > 1 && b.ms <= DRAFT_PAYS * one).map((b) => b.batch);
  return paying.length ? Math.min(MAX_DRAFT, Math.max(...paying)) : 1;
}

/** A drafted step: the slots it unmasks (ascending) with the tokens it puts there. */
export interface DraftStep {
  unmask: number[];
  tokens: number[];
}

export interface DraftInput {
  /** The last forward's still-masked slots, with their top-1 (the choices assumed to hold). */
  candidates: readonly Candidate[];
  /** The slots now (after the last step was committed); MASKED where still masked. */
  slotTokens: readonly number[];
  /** The steps to draft at most (the batch is these plus the canvas itself). */
  steps: number;
  blockSize: number;
  /** The policy's whole decision on a canvas, as the loop makes it (chooseSlots, line and forward caps). */
  decide: (candidates: readonly Candidate[], slotTokens: readonly number[], stepsAhead: number) => { unmask: number[]; stop?: StopReason | string };
}

/**
 * Up to `steps` drafted steps, each with the slot tokens after it. Drafting ends before a step that would stop the
 * decode (nothing to verify after it) and before a canvas whose first masked slot lies in another block (its forward
 * would refresh a cache: it cannot share the batch).
 */
export function draftSteps(input: DraftInput): { step: DraftStep; slotTokens: number[] }[] {
  const out: { step: DraftStep; slotTokens: number[] }[] = [];
  const sim = [...input.slotTokens];
  const blockOf = (tokens: readonly number[]) => Math.floor(tokens.indexOf(MASKED) / input.blockSize);
  const block = blockOf(sim);
  if (block < 0) return out;
  let remaining = input.candidates.filter((c) => sim[c.slot] === MASKED);
  for (let i = 0; i < input.steps && remaining.length; i++) {
    const decision = input.decide(remaining, sim, i + 1);
    if (decision.stop || !decision.unmask.length) break;
    const chosen = new Set(decision.unmask);
    const unmask = [...chosen].sort((a, b) => a - b);
    const byslot = new Map(remaining.map((c) => [c.slot, c.token]));
    const tokens = unmask.map((s) => byslot.get(s)!);
    unmask.forEach((s, j) => (sim[s] = tokens[j]));
    remaining = remaining.filter((c) => !chosen.has(c.slot));
    if (!sim.includes(MASKED) || blockOf(sim) !== block) break;
    out.push({ step: { unmask, tokens }, slotTokens: [...sim] });
  }
  return out;
}

/** Whether a verified decision is the drafted step: the same slots and tokens, and no stop. */
export function sameStep(draft: DraftStep, unmask: readonly number[], tokens: ReadonlyMap<number, number>, stop: unknown): boolean {
  if (stop || unmask.length !== draft.unmask.length) return false;
  const sorted = [...unmask].sort((a, b) => a - b);
  return sorted.every((s, j) => s === draft.unmask[j] && tokens.get(s) === draft.tokens[j]);
}
