// The one table of numeric bounds (docs/architecture.md, "The lifecycle"; docs/reliability.md): every number that reaches the model server, the
// CLI, the settings or a model folder is checked here, so a value that would loop forever, exhaust memory
// or spawn a million threads is refused with the field named instead. No vscode, no onnxruntime.
import type { CompleteRequest, LoadRequest } from '../protocol';
import { resolvePolicy } from './policyTable';

export interface Bound {
  min: number;
  max: number;
  integer: boolean;
  /** What the number is, for the message. */
  what: string;
}

/**
 * The limits. maxSequence is the largest canvas a model folder may declare: attention is quadratic in it,
 * and a forward of the bundled 5M-parameter model at 8192 tokens takes 13 s on one thread; the graph must also answer
 * a probe at the declared length when it loads (src/model/loadModel.ts).
 */
const BOUNDS_VOCAB_MAX = 1_048_576;

export const BOUNDS = {
  /** Intra-op threads of onnxruntime; 0: resolveThreads' default. */
  threads: { min: 0, max: 64, integer: true, what: 'threads (0: half the cores, 1 to 4)' },
  /** Mask slots of one request. */
  slots: { min: 1, max: 1024, integer: true, what: 'mask slots' },
  /** Semi-autoregressive block size, in slots. */
  blockSize: { min: 1, max: 1024, integer: true, what: 'slots per block' },
  /** Draft-and-verify's canvases per batched forward (a request's draft, unmask.draft; 1: off). */
  draft: { min: 1, max: 16, integer: true, what: 'canvases per batched forward (1: off)' },
  /** Cap on forward passes per decode. */
  maxForwards: { min: 1, max: 4096, integer: true, what: 'forward passes' },
  /** A model's longest canvas (unmask.json maxSequence). */
  maxSequence: { min: 8, max: 4096, integer: true, what: 'tokens' },
  /** A model's vocabulary (unmask.json vocabSize). */
  vocabSize: { min: 5, max: BOUNDS_VOCAB_MAX, integer: true, what: 'token ids' },
  /** Predictions per position (unmask.json topK). */
  topK: { min: 1, max: 256, integer: true, what: 'predictions per position' },
  /** Milliseconds one decode may take (a request's timeBudgetMs). */
  timeBudgetMs: { min: 1, max: 600_000, integer: true, what: 'milliseconds' },
  /** Inline-completion slots of the settings; 0: the model folder's budget. */
  singleLineSlots: { min: 0, max: 128, integer: true, what: "mask slots inside a line (0: the model's)" },
  multiLineSlots: { min: 0, max: 256, integer: true, what: "mask slots at a line's end (0: the model's)" },
  debounceMs: { min: 0, max: 2000, integer: true, what: 'milliseconds' },
  /** The gate of the settings (unmask.minConfidence). */
  minConfidence: { min: 0, max: 1, integer: false, what: "the geometric mean of the tokens' probabilities" },
  /** The time budget of the settings (unmask.timeBudgetMs). */
  settingsTimeBudgetMs: { min: 100, max: 60_000, integer: true, what: 'milliseconds' },
} as const satisfies Record<string, Bound>;

export type BoundName = keyof typeof BOUNDS;

/** The most bytes each model-folder file may have: read by the server's loader and the extension's pre-check. */
// weights: a graph's external data (model.onnx.data); a 7B model's int8 weights are about 7.5 GiB, fp16 14
export const FILE_LIMITS = { manifest: 1 << 20, tokenizer: 64 << 20, model: 4 * 1024 ** 3, weights: 32 * 1024 ** 3 } as const;

/**
 * The most bytes of each file the converter parses (src/model/boundedFile.ts reads them): real config.json files are a
 * few KB, tokenizer_config.json up to about 1 MB, a shard index of 90,000 tensors about 8 MB, a safetensors header a few
 * hundred bytes per tensor (safetensors' own limit is 100 MB).
 */
export const CHECKPOINT_FILE_LIMITS = {
  config: 4 << 20,
  tokenizerConfig: 16 << 20,
  index: 16 << 20,
  tokenizer: FILE_LIMITS.tokenizer,
  merges: FILE_LIMITS.tokenizer,
  safetensorsHeader: 16 << 20,
} as const;

/** The most bytes of the source file `npm run complete -- --file` reads (the editor completes open documents). */
export const SOURCE_FILE_LIMIT = 16 << 20;

/**
 * The largest number each config.json dimension may have, checked before anything is sized by it (num_hidden_layers
 * 1e9 ran V8 out of memory after 168 s). The largest published dense models have 126 layers, hidden 16,384, MLP
 * 53,248, 128 heads, 262,144 tokens; max_position_embeddings only bounds the canvas (a few models claim 10 million).
 */
export const CONFIG_LIMITS = {
  layers: 1024,
  hidden: 65_536,
  intermediate: 262_144,
  heads: 1024,
  headDim: 1024,
  vocab: BOUNDS_VOCAB_MAX,
  maxPositions: 1 << 28,
} as const;

/** A number outside its bound; `field` is the name the caller knows it by (a CLI flag, a JSON field, a setting). */
export class BoundError extends Error {
  override readonly name = 'BoundError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `value` is within the bound, without throwing. */
export function withinBound(name: BoundName, value: unknown): value is number {
  const b: Bound = BOUNDS[name];
  return typeof value === 'number' && Number.isFinite(value) && (!b.integer || Number.isInteger(value)) && value >= b.min && value <= b.max;
}

/**
 * Returns `value` when it is within the bound of `name`; otherwise throws a BoundError whose message names
 * `field` (defaults to `name`), the value and the range.
 */
export function checkBound(name: BoundName, value: unknown, field: string = name): number {
  if (withinBound(name, value)) return value;
  const b: Bound = BOUNDS[name];
  throw new BoundError(field, `${field} is ${describe(value)}; expected ${b.integer ? 'an integer' : 'a number'} from ${b.min} to ${b.max} (${b.what})`);
}

/** Checks the numbers of a completion request (the protocol's CompleteRequest); throws naming the field. */
export function checkCompleteRequest(request: CompleteRequest, prefix = 'request'): void {
  if (typeof request !== 'object' || request === null) throw new BoundError(prefix, `${prefix} is ${describe(request)}; expected an object`);
  if (typeof request.prefix !== 'string') throw new BoundError(`${prefix}.prefix`, `${prefix}.prefix is ${describe(request.prefix)}; expected a string`);
  if (typeof request.suffix !== 'string') throw new BoundError(`${prefix}.suffix`, `${prefix}.suffix is ${describe(request.suffix)}; expected a string`);
  if (request.slots !== undefined) checkBound('slots', request.slots, `${prefix}.slots`);
  if (request.timeBudgetMs !== undefined && request.timeBudgetMs !== 'auto') checkBound('timeBudgetMs', request.timeBudgetMs, `${prefix}.timeBudgetMs`);
  if (request.blockSize !== undefined) checkBound('blockSize', request.blockSize, `${prefix}.blockSize`);
  if (request.draft !== undefined && request.draft !== 'auto') checkBound('draft', request.draft, `${prefix}.draft`);
  if (request.maxForwards !== undefined) checkBound('maxForwards', request.maxForwards, `${prefix}.maxForwards`);
  if (typeof request.policy !== 'object' || request.policy === null || typeof request.policy.name !== 'string') {
    throw new BoundError(`${prefix}.policy`, `${prefix}.policy is ${describe(request.policy)}; expected { name, … }`);
  }
  try {
    resolvePolicy(request.policy); // the policy table's names and ranges
  } catch (e) {
    throw new BoundError(`${prefix}.policy`, `${prefix}.policy: ${(e as Error).message}`);
  }
}

/** Checks the numbers of a load request; throws naming the field. */
export function checkLoadRequest(request: LoadRequest, prefix = 'load'): void {
  if (typeof request !== 'object' || request === null) throw new BoundError(prefix, `${prefix} is ${describe(request)}; expected an object`);
  if (typeof request.modelDir !== 'string' || !request.modelDir) {
    throw new BoundError(`${prefix}.modelDir`, `${prefix}.modelDir is ${describe(request.modelDir)}; expected a folder path`);
  }
  checkBound('threads', request.threads, `${prefix}.threads`);
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * The thread count for a setting: the setting itself, or for 0 half the cores, at least 1 and at most 4. Half,
 * because the editor, its language servers and the user's own tools share the cores: on a busy 2-core machine one
 * thread ran a forward 1.5× faster than two, on an idle one two were 15% faster (docs/benchmarks.md, "Threads").
 */
export function resolveThreads(setting: number, cores: number): number {
  return setting > 0 ? Math.floor(setting) : Math.max(1, Math.min(4, Math.floor(cores / 2)));
}

/**
 * A threads setting no larger than the machine's cores, and the line to log when it was larger: more threads than
 * cores only wait for each other (64 on 2 cores made a completion 8× slower). 0 (the default) is kept.
 */
export function clampThreads(setting: number, cores: number, field = 'threads'): { threads: number; note?: string } {
  const most = Math.max(1, cores);
  return setting > most ? { threads: most, note: `${field} is ${setting}, more than this machine's ${most} cores: using ${most}` } : { threads: setting };
}
