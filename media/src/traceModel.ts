// What the views need, derived once from a trace (docs/architecture.md, "The trace"): per slot, the token that filled it,
// when, how sure the model was then and before; per step, what happened. Pure functions, no DOM.
import type { Trace, UnmaskedSlot as Unmasked } from "../../src/protocol";

export interface Alternative {
  token: number;
  text: string | null;
  p: number;
}

/** The model's view of a still-masked slot at one step (from `pending`), or the unmasking itself. */
export interface ConfidencePoint {
  step: number;
  p: number;
  top1: number;
  /** Whether that step's top-1 was the token the slot finally got. */
  final: boolean;
}

export type SlotKind =
  /** A real token that is part of the completion. */
  | "token"
  /** Filled with pad/eos: not part of the completion. */
  | "pad"
  /** A real token that result shaping cut from the completion (e.g. past the end of the line). */
  | "cut"
  /** Never unmasked (decoding stopped or was cancelled first). */
  | "masked";

export interface SlotView {
  slot: number;
  kind: SlotKind;
  /** 0-based index of the step that unmasked it; -1 if never. */
  step: number;
  token: number;
  text: string;
  /** How many leading characters of `text` are in the completion (less than its length only at a cut). */
  keep: number;
  p: number;
  entropy: number;
  /** Policy `learned`: the learned filter's score when it was unmasked (P(its top-1 is final)); null otherwise. */
  score: number | null;
  alternatives: Alternative[];
  history: ConfidencePoint[];
}

export interface StepView {
  index: number;
  ms: number;
  slots: number[];
  real: number;
  pads: number;
  /** Mean top-1 probability over the slots still masked after this step; null when none are. */
  pendingMeanP: number | null;
  pendingCount: number;
  /** Draft-and-verify: this step was a verified draft (no forward of its own). */
  drafted: boolean;
  /** Draft-and-verify: this step's forward was batched over this many canvases; 0 when not batched. */
  batch: number;
}

export interface TraceView {
  trace: Trace;
  slots: SlotView[];
  steps: StepView[];
  /** The text of the slots' real tokens in slot order (before result shaping). */
  tokenText: string;
  /** Whether the shown tokens (less pads and cuts) spell exactly `result.text`. */
  matchesResult: boolean;
}

/** A slot filled with an end token (pad or eos): the trace names those ids (`endTokens`), whatever their text. */
export function isPadToken(u: Unmasked, trace: Pick<Trace, "endTokens">): boolean {
  return trace.endTokens.includes(u.token);
}

function alternativesOf(u: Unmasked): Alternative[] {
  return u.alternatives.map(([token, p], i) => ({ token, p, text: u.alternativeTexts?.[i] ?? null }));
}

export function buildTraceView(trace: Trace): TraceView {
  const slotCount = Math.max(trace.slots, ...trace.steps.flatMap((s) => s.unmasked.map((u) => u.slot + 1)));
  const slots: SlotView[] = Array.from({ length: slotCount }, (_, slot) => ({
    slot,
    kind: "masked",
    step: -1,
    token: -1,
    text: "",
    keep: 0,
    p: 0,
    entropy: 0,
    score: null,
    alternatives: [],
    history: [],
  }));
  const pendingBySlot = new Map<number, { step: number; top1: number; p: number }[]>();

  const steps: StepView[] = trace.steps.map((s, index) => {
    let real = 0;
    let pads = 0;
    for (const u of s.unmasked) {
      const pad = isPadToken(u, trace);
      if (pad) pads++;
      else real++;
      Object.assign(slots[u.slot], {
        kind: pad ? "pad" : "token",
        step: index,
        token: u.token,
        text: u.text,
        p: u.p,
        entropy: u.entropy,
        score: typeof u.score === "number" ? u.score : null,
        alternatives: alternativesOf(u),
      });
    }
    for (const [slot, top1, p] of s.pending) {
      let list = pendingBySlot.get(slot);
      if (!list) pendingBySlot.set(slot, (list = []));
      list.push({ step: index, top1, p });
    }
    const ps = s.pending.map((e) => e[2]);
    return {
      index,
      ms: s.ms,
      slots: s.unmasked.map((u) => u.slot),
      real,
      pads,
      pendingCount: ps.length,
      drafted: s.drafted === true,
      batch: s.batch ?? 0,
      pendingMeanP: ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : null,
    };
  });

  for (const view of slots) {
    const before = (pendingBySlot.get(view.slot) ?? []).filter((e) => view.step < 0 || e.step < view.step);
    view.history = before.map((e) => ({ ...e, final: e.top1 === view.token }));
    if (view.step >= 0) view.history.push({ step: view.step, p: view.p, top1: view.token, final: true });
  }

  // Result shaping may cut the text (a single-line completion stops at the line's end): the engine records which
  // slots' text the completion holds (`keptSlots`); the others are cut, and the last kept one may be cut inside.
  const tokenText = slots
    .filter((v) => v.kind === "token")
    .map((v) => v.text)
    .join("");
  const result = trace.result.text;
  const kept = new Set(trace.keptSlots);
  let offset = 0;
  let shown = "";
  for (const v of slots) {
    if (v.kind !== "token") continue;
    if (!kept.has(v.slot)) {
      v.kind = "cut";
      continue;
    }
    v.keep = Math.max(0, Math.min(v.text.length, result.length - offset));
    offset += v.text.length;
    shown += v.text.slice(0, v.keep);
  }
  const matchesResult = shown === result;
  return { trace, slots, steps, tokenText, matchesResult };
}

/** Policy parameters as `name(k=v, …)`. */
export function policyLabel(trace: Trace): string {
  const { name, ...params } = trace.policy as { name: string } & Record<string, unknown>;
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${name}(${parts.join(", ")})` : name;
}

/** Character-level differences of `text` against `reference`: for each char of `text`, whether it is unchanged. */
export function diffAgainst(reference: string, text: string): boolean[] {
  const n = reference.length;
  const m = text.length;
  // Longest common subsequence table; completions are short (a few hundred characters at most).
  const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = reference[i] === text[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const same = new Array<boolean>(m).fill(false);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (reference[i] === text[j]) {
      same[j] = true;
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) i++;
    else j++;
  }
  return same;
}
