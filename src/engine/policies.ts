// The unmasking rules (docs/architecture.md, "Policies"; their catalogue is policyTable.ts). Each takes this step's candidates (still-masked slots with
// their top-1 probability and entropy) and returns the slots to unmask now: at least one.
import { resolvePolicy, specParameter, type PolicyName, type PolicySpec } from './policyTable';
import type { Candidate } from './types';

export type Policy = (candidates: readonly Candidate[]) => number[];

const byConfidence = (a: Candidate, b: Candidate) => b.p - a.p || a.slot - b.slot;
const byEntropy = (a: Candidate, b: Candidate) => a.entropy - b.entropy || a.slot - b.slot;

/** The single most confident slot: one token per forward, the quality reference (LLaDA). */
export function sequential(candidates: readonly Candidate[]): number[] {
  return candidates.length ? [[...candidates].sort(byConfidence)[0].slot] : [];
}

/** The k most confident slots (LLaDA). */
export function fixed(k: number): Policy {
  return (candidates) =>
    [...candidates]
      .sort(byConfidence)
      .slice(0, Math.max(1, k))
      .map((c) => c.slot);
}

/** Every candidate whose `value` is at least `min`, and at least the most confident one. */
function atLeast(value: (c: Candidate) => number): (min: number) => Policy {
  return (min) => (candidates) => {
    const accepted = candidates.filter((c) => value(c) >= min).map((c) => c.slot);
    return accepted.length ? accepted : sequential(candidates);
  };
}

/** Every slot with p ≥ tau, and at least the most confident one (Fast-dLLM). */
export const threshold = atLeast((c) => c.p);

/** Sorted by p descending, the largest n with (n+1)(1 − p₍ₙ₎) < f (Fast-dLLM's factor rule). */
export function factor(f: number): Policy {
  return (candidates) => {
    const sorted = [...candidates].sort(byConfidence);
    let n = 0;
    while (n < sorted.length && (n + 2) * (1 - sorted[n].p) < f) n++;
    return sorted.slice(0, Math.max(1, n)).map((c) => c.slot);
  };
}

/** Sorted by entropy ascending, the largest k with ΣH − max H ≤ gamma (EB-Sampler). */
export function entropyBounded(gamma: number): Policy {
  return (candidates) => {
    const sorted = [...candidates].sort(byEntropy);
    // ascending order, so ΣH − max H over the first k is the sum of the first k − 1
    let k = 1;
    let sum = 0;
    while (k < sorted.length && sum + sorted[k - 1].entropy <= gamma) {
      sum += sorted[k - 1].entropy;
      k++;
    }
    return sorted.slice(0, Math.max(1, k)).map((c) => c.slot);
  };
}

/**
 * Every slot the learned filter accepts (score ≥ theta), and at least the most confident one (Learn2PD). The
 * scores are put on the candidates by the decode loop, which runs the model folder's filter graph first.
 */
export const learned = atLeast((c) => c.score ?? 0);

const MAKERS: { [N in PolicyName]: (parameter: number) => Policy } = {
  sequential: () => sequential,
  fixed,
  threshold,
  factor,
  entropy: entropyBounded,
  learned,
};

/** The rule for a spec, its parameter filled in from the policy table and checked. */
export function makePolicy(spec: PolicySpec): Policy {
  const r = resolvePolicy(spec);
  return MAKERS[r.name](specParameter(r) ?? 0);
}
