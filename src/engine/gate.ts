// Show only what is worth showing (docs/architecture.md, "The gate"): a completion's confidence, and the
// defaults of the gate and of the time budget, chosen by the benchmark (docs/benchmarks.md, "The gate").
import type { UnmaskedSlot } from '../protocol';

export const DEFAULT_GATE = {
  /** Completions whose confidence is below this are not shown. */
  minConfidence: 0.5,
  /**
   * A decode ends inside this: the last forward that fits fills the slots still masked (decode's stop reason timeBudget); 'auto': what
   * the model's measured cost gives, within engine/plan.ts AUTO_BUDGET's floor and cap, and every request is planned to it.
   */
  timeBudgetMs: 'auto' as number | 'auto',
} as const;

/** A confidence for a log line: two decimals, or "unknown" where a trace holds none (JSON sends NaN as null). */
export function formatConfidence(confidence: unknown): string {
  return typeof confidence === 'number' && Number.isFinite(confidence) ? confidence.toFixed(2) : 'unknown';
}

/** Whether a completion of this confidence passes the gate; a confidence that is not a number never does. */
export function passesGate(confidence: unknown, minConfidence: number): boolean {
  return typeof confidence === 'number' && Number.isFinite(confidence) && confidence >= minConfidence;
}

/**
 * The geometric mean of the probabilities with which the completion's tokens were unmasked (pads and eos
 * excluded): exp of the mean log-probability. 0 for an empty completion.
 */
export function completionConfidence(tokens: readonly Pick<UnmaskedSlot, 'p'>[]): number {
  if (!tokens.length) return 0;
  const meanLog = tokens.reduce((s, t) => s + Math.log(Math.max(t.p, 1e-12)), 0) / tokens.length;
  return Math.exp(meanLog);
}
