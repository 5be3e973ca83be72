// The infill loop (docs/architecture.md, "The decode loop"): one forward per step, a policy picks the slots to
// unmask, and the trace records it. Guards against the empty completion: pad/eos predictions are
// only committed once no real prediction is left to commit (and then only trailing ones first),
// end-of-text prediction fills the confident tail in one step, and pads between real tokens are
// deleted from the result.
import type { CompleteRequest, PendingSlot, StopReason, Trace, TracePlan, TraceStep, UnmaskedSlot } from '../protocol';
import { buildCanvas, contextChars, slotBudget } from './canvas';
import { completionConfidence } from './gate';
import { assertFinitePredictions } from './finite';
import { makePolicy, type Policy } from './policies';
import { resolvePolicy } from './policyTable';
import { MAX_SUGGESTION_LINES, shapeCompletion } from './shaping';
import { SignalTracker } from './signals';
import { autoBudgetMs, decodeMs, observeForwards, planRequest, type ForwardCost } from './plan';
import { draftSteps, draftWidth, sameStep, type DraftStep } from './draft';
import { CancelledError, type Candidate, type Denoiser, type ModelSpec, type Prediction, type SlotFilter, type TokenizerLike } from './types';

export interface DecodeOptions {
  signal?: AbortSignal;
  onStep?: (step: TraceStep, index: number) => void;
  /** EoTP fires when every still-masked slot predicts pad/eos with at least this probability. */
  eotThreshold?: number;
  /** Stop early when every masked slot's top-1 is unchanged since the last forward and at least this sure. Off when absent. */
  stableConfidence?: number;
  now?: () => number;
  /** Each forward's still-masked slots and their signals (src/engine/signals.ts), before the policy chooses. */
  onSignals?: (step: number, candidates: readonly Candidate[], features: Float32Array) => void;
}

export const DEFAULT_EOT_THRESHOLD = 0.9;
export const LEARNED_UNAVAILABLE =
  'policy "learned" is unavailable: this model folder has no learned unmasking filter ' +
  '(unmask.json files.filter; train one with training/filter.py), choose another policy';
const MASKED = -1;

export interface Decoder {
  denoiser: Denoiser;
  tokenizer: TokenizerLike;
  model: ModelSpec;
  /** The model folder's learned unmasking filter, if it has one (the `learned` policy needs it). */
  filter?: SlotFilter;
  /** The model's measured cost on this machine (src/model/costModel.ts): with it, a budget plans the canvas (plan.ts). */
  cost?: ForwardCost;
  /** The draft-and-verify batch width that pays on this machine (a request's `draft: 'auto'`); absent: 1. */
  draftWidth?: number;
}

export async function decode(
  { denoiser, tokenizer, model, filter, cost, draftWidth: modelDraft }: Decoder,
  request: CompleteRequest,
  options: DecodeOptions = {},
): Promise<Trace> {
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const { signal } = options;
  const throwIfCancelled = () => {
    if (signal?.aborted) throw new CancelledError();
  };
  throwIfCancelled();

  const spec = resolvePolicy(request.policy);
  const policy = makePolicy(spec);
  if (spec.name === 'learned' && !filter) throw new Error(LEARNED_UNAVAILABLE);
  const eotThreshold = options.eotThreshold ?? DEFAULT_EOT_THRESHOLD;
  const maxForwards = request.maxForwards && request.maxForwards > 0 ? Math.floor(request.maxForwards) : Infinity;
  const endTokens = endTokensOf(model.tokens);
  const isEnd = (token: number) => endTokens.includes(token);

  // tokenizing a whole file costs more than a forward; far more text than can fit is never needed
  const chars = contextChars(model.maxSequence);
  let slots = request.slots ?? slotBudget(model, request.singleLine);
  const cached = typeof denoiser.beginBlock === 'function';
  const timeBudget =
    request.timeBudgetMs === 'auto'
      ? autoBudgetMs(cost, slots, cached, request.singleLine)
      : request.timeBudgetMs && request.timeBudgetMs > 0
        ? request.timeBudgetMs
        : Infinity;
  const prefixIds = tokenizer.encode(request.prefix.slice(-chars));
  const suffixIds = tokenizer.encode(request.suffix.slice(0, chars));
  // the plan (plan.ts): context and slots sized so the decode fits the budget, before the first forward
  let window = model;
  let plan: TracePlan | undefined;
  if (cost && Number.isFinite(timeBudget) && request.plan !== false) {
    plan = planRequest(cost, {
      budgetMs: timeBudget,
      prefixTokens: prefixIds.length,
      suffixTokens: suffixIds.length,
      slots,
      cached,
      maxSequence: model.maxSequence,
    });
    slots = plan.slots;
    window = { ...model, maxSequence: Math.min(model.maxSequence, plan.contextTokens + slots + model.logitsShift) };
  }
  const blockSize = request.blockSize && request.blockSize > 0 ? Math.floor(request.blockSize) : slots;
  const canvas = buildCanvas(prefixIds, suffixIds, slots, window);
  const slotTokens = new Array<number>(canvas.slots).fill(MASKED);
  const lineCap = request.singleLine ? 1 : MAX_SUGGESTION_LINES;
  const textOf = tokenTexts(tokenizer);
  const steps: TraceStep[] = [];
  let msModel = 0;
  let stoppedBy: StopReason = 'complete';
  let previousTop1: Map<number, number> | undefined;
  let openBlock = -1;
  const tracker = spec.name === 'learned' || options.onSignals ? new SignalTracker(canvas.slots, blockSize, request.singleLine, isEnd) : undefined;
  // draft-and-verify (draft.ts): rows of the last batched forward not used yet, and the drafted step leading to each
  let draftK = typeof denoiser.forwardBatch === 'function' ? draftWidth(request.draft, modelDraft) : 1;
  let draftOff: string | undefined;
  if (draftK > 1 && denoiser.batchExact) {
    const all = slotTokens.map((_, s) => canvas.slotStart + s - model.logitsShift);
    if (!(await denoiser.batchExact(canvas.ids, all))) {
      draftK = 1;
      draftOff = 'batched rows differ from forwards alone on this graph (activations quantized across the batch)';
    }
    throwIfCancelled();
  }
  denoiser.beginDecode?.({ reuse: request.reuse === true });
  let verified: { rows: Prediction[][]; positions: Map<number, number>; drafts: DraftStep[]; next: number } | undefined;
  let lastCandidates: Candidate[] | undefined;
  let forwards = 0;
  let reusedRows: number | undefined;
  // what the next forward will take: the last step as measured; before one ran, with the cache, the cost's fit of a
  // step (the first forward is a full one and costs more than every cached step after it), without, the first forward
  let lastStepMs: number | undefined;
  const nextForwardMs = (forwardMs: number): number => {
    if (forwards > 1 && forwardMs > 0) lastStepMs = forwardMs;
    if (lastStepMs !== undefined) return lastStepMs;
    if (cached && cost) return decodeMs(cost, canvas.prefixIds.length + canvas.suffixIds.length, canvas.slots, true).step;
    return forwardMs;
  };
  const decideStep = (
    candidates: readonly Candidate[],
    tokens: readonly number[],
    stepIndex: number,
    bySlot: ReadonlyMap<number, Prediction>,
    previous: ReadonlyMap<number, number> | undefined,
  ): StepDecision => {
    const all = candidates.map((c) => c.slot);
    let decision = chooseSlots({
      candidates,
      slotTokens: tokens,
      policy,
      isEnd,
      blockSize,
      eotp: request.eotp,
      eotThreshold,
      stableConfidence: options.stableConfidence,
      previousTop1: previous,
    });
    if (!decision.stop && stepIndex + 1 >= maxForwards) decision = { unmask: all, stop: 'maxForwards' };
    if (!decision.stop && lineSettled(tokens, decision.unmask, bySlot, isEnd, textOf, lineCap)) {
      // the text up to the last line shaping keeps can no longer change: the rest would be cut anyway
      decision = { unmask: all, stop: request.singleLine ? 'lineEnd' : 'lineCap' };
    }
    return decision;
  };

  while (slotTokens.includes(MASKED)) {
    throwIfCancelled();
    const stepStart = now();
    const masked = indicesOf(slotTokens, MASKED);
    const block = Math.floor(masked[0] / blockSize);
    if (block !== openBlock) {
      // a cache (docs/architecture.md, "The dual cache") refreshes once per block: its rows are the block's tokens and the rows read for them
      openBlock = block;
      denoiser.beginBlock?.(
        Math.max(0, canvas.slotStart + block * blockSize - model.logitsShift),
        canvas.slotStart + Math.min((block + 1) * blockSize, canvas.slots),
      );
    }
    const positions = masked.map((s) => canvas.slotStart + s - model.logitsShift);
    let predictions: Prediction[];
    let batchRows = 0;
    let ran = false;
    if (verified) {
      // the drafted step before this canvas was the policy's own: its row of the batched forward is this forward
      const row = verified.rows[verified.next];
      predictions = positions.map((p) => row[verified!.positions.get(p)!]);
    } else {
      const drafts =
        draftK > 1 && lastCandidates
          ? draftSteps({
              candidates: lastCandidates,
              slotTokens,
              steps: draftK - 1,
              blockSize,
              decide: (cands, tokens, ahead) =>
                decideStep(
                  cands,
                  tokens,
                  steps.length + ahead,
                  new Map(cands.map((c) => [c.slot, { ids: [c.token], probs: [c.p], entropy: c.entropy }])),
                  new Map(cands.map((c) => [c.slot, c.token])),
                ),
            })
          : [];
      if (drafts.length) {
        const rows = [canvas.ids, ...drafts.map((d) => canvasWith(canvas.ids, canvas.slotStart, d.slotTokens))];
        const answered = await denoiser.forwardBatch!(rows, positions);
        if (answered.length < 1 || answered.length > rows.length)
          throw new Error(`the denoiser answered ${answered.length} rows for a batch of ${rows.length}`);
        verified = {
          rows: answered,
          positions: new Map(positions.map((p, j) => [p, j])),
          drafts: drafts.slice(0, answered.length - 1).map((d) => d.step),
          next: 0,
        };
        predictions = answered[0];
        batchRows = answered.length;
      } else {
        predictions = await denoiser.forward(canvas.ids, positions, signal);
      }
      forwards++;
      ran = true;
      if (forwards === 1) reusedRows = denoiser.reused?.();
    }
    const forwardMs = now() - stepStart;
    msModel += forwardMs;
    throwIfCancelled();
    if (predictions.length !== masked.length) {
      throw new Error(`the denoiser answered ${predictions.length} predictions for ${masked.length} positions`);
    }
    assertFinitePredictions(
      predictions,
      masked.map((s) => canvas.slotStart + s),
    );
    const bySlot = new Map(masked.map((s, j) => [s, predictions[j]]));
    const candidates: Candidate[] = masked.map((slot, j) => ({
      slot,
      token: predictions[j].ids[0],
      p: predictions[j].probs[0],
      entropy: predictions[j].entropy,
      p2: predictions[j].probs[1] ?? 0,
    }));
    if (tracker) {
      const features = tracker.next(candidates, slotTokens);
      options.onSignals?.(steps.length, candidates, features);
      if (spec.name === 'learned') {
        const scores = await filter!.score(features, candidates.length);
        candidates.forEach((c, j) => (c.score = scores[j]));
        throwIfCancelled();
      }
    }

    let decision = decideStep(candidates, slotTokens, steps.length, bySlot, previousTop1);
    // the budget, like maxForwards: when the next forward would end past it, this one is the last and its predictions
    // fill every slot still masked (the gate then decides whether the text is worth showing)
    if (!decision.stop && now() - t0 + nextForwardMs(ran ? forwardMs : 0) > timeBudget) {
      decision = { unmask: candidates.map((c) => c.slot), stop: 'timeBudget' };
    }
    previousTop1 = new Map(candidates.map((c) => [c.slot, c.token]));
    const drafted = verified !== undefined && verified.next > 0;
    if (verified) {
      // verify: the next row holds the next canvas only when this decision is the drafted step
      const tokensOf = new Map(decision.unmask.map((slot) => [slot, bySlot.get(slot)!.ids[0]]));
      const draft = verified.drafts[verified.next];
      if (draft && sameStep(draft, decision.unmask, tokensOf, decision.stop)) verified.next++;
      else {
        denoiser.acceptRows?.(verified.next + 1);
        verified = undefined;
      }
    }
    lastCandidates = candidates;

    const unmasked: UnmaskedSlot[] = [];
    const scoreOf = new Map(candidates.map((c) => [c.slot, c.score]));
    for (const slot of [...decision.unmask].sort((a, b) => a - b)) {
      const pred = bySlot.get(slot)!;
      const token = pred.ids[0];
      slotTokens[slot] = token;
      canvas.ids[canvas.slotStart + slot] = token;
      unmasked.push(unmaskedEntry(slot, pred, textOf, scoreOf.get(slot)));
    }
    const pending: PendingSlot[] = candidates.filter((c) => slotTokens[c.slot] === MASKED).map((c) => [c.slot, c.token, round(c.p)]);
    const step: TraceStep = {
      at: round(stepStart - t0, 2),
      ms: round(now() - stepStart, 2),
      msModel: round(forwardMs, 2),
      unmasked,
      pending,
      ...(batchRows ? { batch: batchRows } : {}),
      ...(drafted ? { drafted: true } : {}),
    };
    steps.push(step);
    options.onStep?.(step, steps.length - 1);
    if (decision.stop) {
      stoppedBy = decision.stop;
      break;
    }
  }

  // what the forwards cost against what the fits say: the next plan adapts to a machine busier (or quieter) than measured
  if (cost && steps.length) {
    const fitted = decodeMs({ ...cost, slowdown: 1 }, canvas.prefixIds.length + canvas.suffixIds.length, canvas.slots, cached, forwards);
    observeForwards(cost, fitted.total - cost.overheadMs, msModel);
  }
  const realSlots = slotTokens.map((_, i) => i).filter((i) => slotTokens[i] !== MASKED && !isEnd(slotTokens[i]));
  const realTokens = realSlots.map((i) => slotTokens[i]);
  const rawText = tokenizer.decode(realTokens);
  const text = shapeCompletion({ text: rawText, prefix: request.prefix, suffix: request.suffix, singleLine: request.singleLine });
  // each slot's probability when it was unmasked, from the trace
  const unmaskedP = new Map(steps.flatMap((s) => s.unmasked.map((u) => [u.slot, u.p] as const)));
  const kept = keptSlots(realSlots, slotTokens, text, textOf);
  const confidence = completionConfidence(kept.map((i) => ({ p: unmaskedP.get(i) ?? 0 })));
  const msTotal = now() - t0;
  return {
    model: model.name,
    policy: {
      ...spec,
      eotp: request.eotp,
      ...(request.blockSize ? { blockSize } : {}),
      ...(draftK > 1 ? { draft: draftK } : {}),
      ...(draftOff ? { draft: 1, draftOff } : {}),
      ...(Number.isFinite(maxForwards) ? { maxForwards } : {}),
      ...(Number.isFinite(timeBudget) ? { timeBudgetMs: timeBudget } : {}),
    },
    slots: canvas.slots,
    ...(plan ? { plan } : {}),
    prefixTokens: canvas.prefixIds.length,
    suffixTokens: canvas.suffixIds.length,
    steps,
    result: { text, stoppedBy, confidence: round(confidence) },
    stats: {
      forwards,
      tokens: realTokens.length,
      tokensPerForward: forwards ? round(realTokens.length / forwards, 3) : 0,
      msTotal: round(msTotal, 2),
      msModel: round(msModel, 2),
      ...(reusedRows ? { reusedRows } : {}),
    },
    prefixText: tokenizer.decode(canvas.prefixIds),
    suffixText: tokenizer.decode(canvas.suffixIds),
    slotTokens,
    endTokens,
    keptSlots: kept,
    rawText,
    singleLine: request.singleLine,
  };
}

export interface StepContext {
  /** Every still-masked slot with this forward's top-1. */
  candidates: readonly Candidate[];
  /** Slot tokens so far; MASKED (−1) where still masked. */
  slotTokens: readonly number[];
  policy: Policy;
  isEnd: (token: number) => boolean;
  blockSize: number;
  eotp: boolean;
  eotThreshold: number;
  stableConfidence?: number;
  previousTop1?: ReadonlyMap<number, number>;
}

export interface StepDecision {
  unmask: number[];
  stop?: StopReason;
}

/** Which slots this step unmasks, and whether decoding stops after it. */
export function chooseSlots(ctx: StepContext): StepDecision {
  const { candidates, slotTokens, isEnd } = ctx;
  const all = candidates.map((c) => c.slot);
  if (
    ctx.stableConfidence !== undefined &&
    ctx.previousTop1 &&
    candidates.every((c) => ctx.previousTop1!.get(c.slot) === c.token && c.p >= ctx.stableConfidence!)
  ) {
    return { unmask: all, stop: 'stable' };
  }

  // semi-autoregressive: only the first block that still has masked slots is open
  const firstMasked = Math.min(...all);
  const blockEnd = (Math.floor(firstMasked / ctx.blockSize) + 1) * ctx.blockSize;
  const open = candidates.filter((c) => c.slot < blockEnd);

  // real tokens first; pads only when nothing real is left, and trailing pads before inner ones
  const real = open.filter((c) => !isEnd(c.token));
  let chosen: number[];
  if (real.length) {
    chosen = ctx.policy(real);
  } else {
    const tail = trailingEndStart(slotTokens, candidates, isEnd);
    const trailing = open.filter((c) => c.slot >= tail);
    chosen = ctx.policy(trailing.length ? trailing : open);
  }

  // EoTP: every real prediction is being committed and all that remains is confidently the end;
  // or nothing real is predicted anywhere any more: more forwards would only place pads
  const chosenSet = new Set(chosen);
  const rest = candidates.filter((c) => !chosenSet.has(c.slot));
  const ends = candidates.filter((c) => isEnd(c.token));
  if (ctx.eotp && ends.length && rest.every((c) => isEnd(c.token)) && (ends.length === candidates.length || ends.every((c) => c.p >= ctx.eotThreshold))) {
    return { unmask: all, stop: 'eotp' };
  }
  return rest.length ? { unmask: chosen } : { unmask: chosen, stop: 'complete' };
}

/**
 * Whether, once `unmask` is committed, every slot up to the real token holding the `lines`-th line break is
 * committed: what shaping keeps (one line in single-line mode, the line cap otherwise) is then final.
 */
export function lineSettled(
  slotTokens: readonly number[],
  unmask: readonly number[],
  bySlot: ReadonlyMap<number, Prediction>,
  isEnd: (t: number) => boolean,
  textOf: (id: number) => string,
  lines = 1,
): boolean {
  const committing = new Set(unmask);
  let breaks = 0;
  for (let slot = 0; slot < slotTokens.length; slot++) {
    const token = slotTokens[slot] !== MASKED ? slotTokens[slot] : committing.has(slot) ? bySlot.get(slot)!.ids[0] : MASKED;
    if (token === MASKED) return false;
    if (!isEnd(token)) breaks += (textOf(token).match(/\n|\r(?!\n)/g) ?? []).length;
    if (breaks >= lines) return true;
  }
  return false;
}

/** The real slots whose text makes up the shaped result (a prefix of them: shaping only cuts at the end). */
/** The token ids that end a completion (pad and eos): what the trace's readers must not guess from token text. */
export function endTokensOf(tokens: { pad: number; eos: number }): number[] {
  return tokens.pad === tokens.eos ? [tokens.pad] : [tokens.pad, tokens.eos];
}

function keptSlots(realSlots: readonly number[], slotTokens: readonly number[], shaped: string, textOf: (id: number) => string): number[] {
  const want = shaped.replace(/\r\n/g, '\n').length;
  const kept: number[] = [];
  let length = 0;
  for (const slot of realSlots) {
    if (length >= want) break;
    kept.push(slot);
    length += textOf(slotTokens[slot]).length;
  }
  return kept;
}

/** The first slot from which every slot is a committed pad/eos or masked with a pad/eos top-1. */
export function trailingEndStart(slotTokens: readonly number[], candidates: readonly Candidate[], isEnd: (t: number) => boolean): number {
  const top1 = new Map(candidates.map((c) => [c.slot, c.token]));
  let start = slotTokens.length;
  while (start > 0) {
    const t = slotTokens[start - 1];
    const token = t === MASKED ? top1.get(start - 1) : t;
    if (token === undefined || !isEnd(token)) break;
    start--;
  }
  return start;
}

function unmaskedEntry(slot: number, pred: Prediction, textOf: (id: number) => string, score?: number): UnmaskedSlot {
  const alternatives: [number, number][] = [];
  for (let i = 0; i < pred.ids.length; i++) alternatives.push([pred.ids[i], round(pred.probs[i])]);
  return {
    slot,
    token: pred.ids[0],
    text: textOf(pred.ids[0]),
    p: round(pred.probs[0]),
    entropy: round(pred.entropy),
    alternatives,
    alternativeTexts: alternatives.map(([id]) => textOf(id)),
    ...(score !== undefined ? { score: round(score) } : {}),
  };
}

function tokenTexts(tokenizer: TokenizerLike): (id: number) => string {
  const cache = new Map<number, string>();
  return (id) => {
    let t = cache.get(id);
    if (t === undefined) cache.set(id, (t = tokenizer.decode([id])));
    return t;
  };
}

/** The canvas with the slots of `slotTokens` that are not masked written in (a drafted row of a batched forward). */
function canvasWith(ids: readonly number[], slotStart: number, slotTokens: readonly number[]): number[] {
  const out = [...ids];
  slotTokens.forEach((t, i) => t !== MASKED && (out[slotStart + i] = t));
  return out;
}

function indicesOf(xs: readonly number[], value: number): number[] {
  const out: number[] = [];
  xs.forEach((x, i) => x === value && out.push(i));
  return out;
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
