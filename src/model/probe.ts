// Load-time probes of a model's answers (docs/reliability.md): the graph's outputs must be finite for every token
// id, and what a probe can tell about the manifest's claims is logged as warnings.
//
// Why every id: NaN rows of an embedding do not reach every output. The bundled graph quantizes activations
// dynamically, and a NaN row at a canvas position that is not read came out as ordinary numbers, so a probe over a
// few ids (the old one) loaded a model whose rows 100–8191 were NaN; each decode then answered NaN. A row always
// reaches its own position's output (the residual stream carries it), so the probe puts each id on a canvas and
// reads every row. Each row's entropy and top-K come from a softmax over the whole vocabulary, so the output side
// (the projection's rows, tied or not) is covered by every row read.
import type { Denoiser, Prediction, TokenizerLike } from '../engine/types';
import { nonFiniteRows } from '../engine/finite';
import type { Manifest } from '../contract/manifest';
import { ModelFolderError } from '../contract/manifest';

/**
 * The most (rows read) × (vocabulary) the finiteness probe computes in the output projection: every id of a
 * vocabulary of 8,192 (the bundled model: 32 forwards of 256 rows, about 0.3 s on one thread); an evenly spread
 * sample of the ids beyond that (a 151,936-token vocabulary: 441 ids).
 */
export const FINITE_PROBE_BUDGET = 8192 * 8192;
/** Rows per probe forward (at most the model's maxSequence). */
export const FINITE_PROBE_ROWS = 256;

/** The token ids the finiteness probe reads: all of them within the budget, else an even spread ending at the last id. */
export function finiteProbeIds(vocabSize: number, budget = FINITE_PROBE_BUDGET): number[] {
  const n = Math.min(vocabSize, Math.max(64, Math.floor(budget / vocabSize)));
  if (n >= vocabSize) return Array.from({ length: vocabSize }, (_, i) => i);
  const ids = Array.from({ length: n }, (_, j) => Math.floor((j * (vocabSize - 1)) / (n - 1)));
  return [...new Set(ids)];
}

/**
 * Runs every probe id through `denoiser` at a position that is read; throws a ModelFolderError naming `modelFile`
 * when any answer is not a finite probability. Leaves the denoiser's own counters (a cache's `stats`) at zero.
 */
export async function checkFiniteOutputs(
  denoiser: Denoiser,
  m: Pick<Manifest, 'vocabSize' | 'maxSequence'>,
  modelFile: string,
  budget = FINITE_PROBE_BUDGET,
): Promise<void> {
  const ids = finiteProbeIds(m.vocabSize, budget);
  const rows = Math.min(FINITE_PROBE_ROWS, m.maxSequence);
  // a NaN row reaches the other rows of its canvas through attention: the canvases that answered NaN, not the ids
  const bad: [number, number][] = [];
  let first: Prediction | undefined;
  let canvases = 0;
  for (let at = 0; at < ids.length; at += rows, canvases++) {
    const canvas = ids.slice(at, at + rows);
    const answers = await denoiser.forward(
      canvas,
      canvas.map((_, i) => i),
    );
    const rowsBad = nonFiniteRows(answers);
    if (rowsBad.length) {
      first ??= answers[rowsBad[0]];
      bad.push([canvas[0], canvas[canvas.length - 1]]);
    }
  }
  resetStats(denoiser);
  if (bad.length) {
    throw new ModelFolderError(
      modelFile,
      `answers non-finite probabilities (p ${first!.probs[0]}, entropy ${first!.entropy}) on ${bad.length} of ` +
        `${canvases} probe canvases that hold ${ids.length === m.vocabSize ? 'all' : `${ids.length} of the`} ${m.vocabSize} token ids (ids ` +
        `${bad
          .slice(0, 3)
          .map(([a, b]) => `${a}–${b}`)
          .join(', ')}${bad.length > 3 ? ', …' : ''}): its weights hold NaN or Inf values (docs/reliability.md)`,
    );
  }
}

/** A cache's counters (CachedDenoiser.stats) count a decode's forwards: the probe's are not the user's. */
function resetStats(denoiser: Denoiser): void {
  const stats = (denoiser as { stats?: Record<string, unknown> }).stats;
  if (stats && typeof stats === 'object') for (const k of Object.keys(stats)) if (typeof stats[k] === 'number') stats[k] = 0;
}

/**
 * Code that repeats itself: a model trained for infill fills a masked token of the later copies from the earlier
 * ones, whichever way its predictions are read, so the probe below measures the reading, not the model's skill.
 */
const SHIFT_PROBE_TEXT = 'for i in range(10):\n    print(i)\n'.repeat(8);
/** One masked token in this many, in the second half of the text (measured on the bundled model, logitsShift 0:
 * 12 of 18 masked tokens right read at i, 0 read at i − 1). */
const SHIFT_PROBE_EVERY = 3;

export interface ShiftProbe {
  /** Masked tokens whose top-1 read at the position itself (logitsShift 0) is the true token, of `masked`. */
  atPosition: number;
  /** …read one position earlier (logitsShift 1). */
  atPrevious: number;
  masked: number;
}

/**
 * Reads a masked copy of SHIFT_PROBE_TEXT both ways (one forward): how many masked tokens each reading gets right.
 * A model adapted from an autoregressive one (logitsShift 1) predicts position i at i − 1; a masked-diffusion model
 * (0) at i. The manifest cannot be checked against a training record (none of the exporters writes the shift into
 * one), so this is the only evidence there is, and it is a measurement, not a proof: it gives a warning, not a refusal.
 */
export async function probeLogitsShift(denoiser: Denoiser, tokenizer: TokenizerLike, m: Pick<Manifest, 'maxSequence' | 'tokens'>): Promise<ShiftProbe> {
  const truth = tokenizer.encode(SHIFT_PROBE_TEXT).slice(0, m.maxSequence);
  const canvas = [...truth];
  const masked: number[] = [];
  for (let i = Math.floor(truth.length / 2); i < truth.length; i += SHIFT_PROBE_EVERY) masked.push(i);
  for (const i of masked) canvas[i] = m.tokens.mask;
  const positions = masked.flatMap((i) => [i, i - 1]);
  const answers = await denoiser.forward(canvas, positions);
  resetStats(denoiser);
  let atPosition = 0;
  let atPrevious = 0;
  masked.forEach((i, j) => {
    if (answers[2 * j].ids[0] === truth[i]) atPosition++;
    if (answers[2 * j + 1].ids[0] === truth[i]) atPrevious++;
  });
  return { atPosition, atPrevious, masked: masked.length };
}

/**
 * The warning for a manifest whose logitsShift the probe contradicts: the other reading gets at least a quarter of
 * the masked tokens right, and more than twice (plus two) as many as the declared one.
 */
export function logitsShiftWarning(shift: number, probe: ShiftProbe, manifestFile: string): string | undefined {
  const declared = shift === 1 ? probe.atPrevious : probe.atPosition;
  const other = shift === 1 ? probe.atPosition : probe.atPrevious;
  if (other * 4 < probe.masked || other < 2 * declared + 2) return undefined;
  return (
    `${manifestFile}: field "logitsShift" is ${shift}, but the model's predictions read as logitsShift ${1 - shift} got ${other} of ${probe.masked} ` +
    `masked tokens of a probe text right, against ${declared} as declared: the manifest is probably wrong (docs/model-contract.md)`
  );
}

/** Warnings about what the manifest leaves unchecked or gets wrong, for the log; the model loads regardless. */
export async function modelWarnings(loaded: { manifest: Manifest; denoiser: Denoiser; tokenizer: TokenizerLike }, manifestFile: string): Promise<string[]> {
  const warnings: string[] = [];
  if (loaded.manifest.vocabDigest === undefined) {
    warnings.push(
      `${manifestFile} has no "vocabDigest": a tokenizer.json of the right size whose ids mean other text (shuffled, another ` +
        "model's) cannot be told from the model's own; export the folder again to add it (docs/model-contract.md)",
    );
  }
  const shift = logitsShiftWarning(loaded.manifest.logitsShift, await probeLogitsShift(loaded.denoiser, loaded.tokenizer, loaded.manifest), manifestFile);
  if (shift) warnings.push(shift);
  return warnings;
}
