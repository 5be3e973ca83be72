// A forward whose probabilities or entropies are not finite numbers is a failed forward, not a prediction: NaN/Inf
// weights (all or only some rows of an embedding) answer NaN with the id order of whatever TopK saw, and decoding
// them committed "################" with confidence NaN, which JSON sends as null.
import type { Prediction } from './types';

/** Largest probability accepted above 1 (float32 softmax rounding). */
const P_SLACK = 1e-3;

/** The forward answered values that are not probabilities (NaN, ±Inf, out of range). */
export class NonFiniteOutputError extends Error {
  override readonly name = 'NonFiniteOutput';
}

/** Whether one prediction holds finite probabilities in [0, 1] and a finite, non-negative entropy. */
export function isFinitePrediction(p: Prediction): boolean {
  if (!(Number.isFinite(p.entropy) && p.entropy >= -P_SLACK)) return false;
  for (let i = 0; i < p.probs.length; i++) {
    const x = p.probs[i];
    if (!(Number.isFinite(x) && x >= 0 && x <= 1 + P_SLACK)) return false;
  }
  return true;
}

/** The indices of `predictions` that are not finite probabilities. */
export function nonFiniteRows(predictions: readonly Prediction[]): number[] {
  const rows: number[] = [];
  predictions.forEach((p, i) => {
    if (!isFinitePrediction(p)) rows.push(i);
  });
  return rows;
}

/** Throws NonFiniteOutputError naming the canvas positions whose predictions are not finite probabilities. */
export function assertFinitePredictions(predictions: readonly Prediction[], positions: readonly number[]): void {
  const bad = nonFiniteRows(predictions);
  if (!bad.length) return;
  const at = bad
    .slice(0, 5)
    .map((j) => positions[j])
    .join(', ');
  const first = predictions[bad[0]];
  throw new NonFiniteOutputError(
    `the model answered non-finite probabilities (p ${first.probs[0]}, entropy ${first.entropy}) at ${bad.length} of ` +
      `${predictions.length} canvas positions (${at}${bad.length > 5 ? ', …' : ''}): its weights hold NaN or Inf values; reload it or choose another model`,
  );
}
