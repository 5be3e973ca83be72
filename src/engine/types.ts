// The engine's view of a model: a denoiser that answers top-K predictions for canvas positions,
// a tokenizer, and the few facts of the manifest that decoding needs. No onnxruntime here.

/** The model's top-K at one wanted position, most likely first. */
export interface Prediction {
  ids: ArrayLike<number>;
  probs: ArrayLike<number>;
  entropy: number;
}

export interface Denoiser {
  /**
   * One forward pass over `canvas` (token ids); returns the predictions at `positions`, in order.
   * The canvas array is reused by the caller between calls: copy what you keep.
   */
  /** `signal`, when given, may abort the forward in flight (a remote one); local forwards finish and are checked between steps. */
  forward(canvas: readonly number[], positions: readonly number[], signal?: AbortSignal): Promise<Prediction[]>;
  /**
   * Optional: the decode loop announces each newly opened block of slots, as the canvas rows [start, end) that its
   * tokens and its predictions occupy. A denoiser with a cache (the dual cache, src/model/cachedDenoiser.ts)
   * refreshes it at the next forward and then recomputes only those rows.
   */
  beginBlock?(start: number, end: number): void;
  /**
   * Optional: a decode starts. With `reuse`, its first forward may take the rows its canvas shares with the last
   * decode's from a cache (reuse across keystrokes, src/model/cachedDenoiser.ts); `reused` then says how many it took.
   */
  beginDecode?(options: { reuse: boolean }): void;
  reused?(): number | undefined;
  /**
   * Optional: several forwards in one batched pass (draft-and-verify, src/engine/draft.ts). Row i answers what
   * `forward(canvases[i], positions)` would answer had `forward` been called on canvases[0..i−1] before it, exactly:
   * a denoiser that cannot keep that promise for every row (a cache refresh falls between) answers the first rows
   * only, at least one. The caller then says with `acceptRows` how many rows it used: the denoiser's state is as if
   * `forward` had been called on those rows only. Rows that are not used were wasted work, nothing else.
   */
  forwardBatch?(canvases: readonly (readonly number[])[], positions: readonly number[]): Promise<Prediction[][]>;
  /** After `forwardBatch`: only the first `rows` rows (at least 1) were used. */
  acceptRows?(rows: number): void;
  /**
   * Optional: whether a row of `forwardBatch` answers bit for bit what a forward of that canvas alone answers (asked
   * once, on a first canvas; false, for instance, where activations are quantized per tensor across the batch).
   * Draft-and-verify runs only where it is not false: otherwise it could change the text.
   */
  batchExact?(canvas: readonly number[], positions: readonly number[]): Promise<boolean>;
}

export interface TokenizerLike {
  encode(text: string): number[];
  /** Decodes ids exactly (special tokens kept as their text). */
  decode(ids: readonly number[]): string;
}

export interface SpecialTokens {
  pad: number;
  eos: number;
  mask: number;
  bos: number | null;
}

export interface ModelSpec {
  name: string;
  maxSequence: number;
  /** 1: the prediction for position i is read at i−1 (models adapted from autoregressive ones). */
  logitsShift: number;
  tokens: SpecialTokens;
  /** Slot budgets of this model (unmask.json `slots`); absent: DEFAULT_SLOTS. */
  slots?: { singleLine: number; multiLine: number };
}

/** A still-masked slot as a policy sees it: the top-1 of this step's forward. */
export interface Candidate {
  slot: number;
  token: number;
  p: number;
  entropy: number;
  /** The second-best probability (for the learned filter's margin); absent where the denoiser answers top-1 only. */
  p2?: number;
  /** The learned filter's score, P(this top-1 is already the final token); only under the `learned` policy. */
  score?: number;
}

/**
 * The learned unmasking filter (Learn2PD; the model folder's optional `files.filter` graph): scores each
 * still-masked slot's signals (src/engine/signals.ts, FEATURE_COUNT per row) with P(its top-1 is final).
 */
export interface SlotFilter {
  score(features: Float32Array, rows: number): Promise<Float32Array>;
}

export class CancelledError extends Error {
  override readonly name = 'Cancelled';
  constructor(message = 'completion cancelled') {
    super(message);
  }
}
