// The unmasking rules of design §3. Each takes this step's candidates (still-masked slots with
// their top-1 probability and entropy) and returns the slots to unmask now: at least one.
import type { PolicyName, PolicySpec } from '../protocol';
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
  return (candidates) => [...candidates].sort(byConfidence).slice(0, Math.max(1, k)).map((c) => c.slot);
}

/** Every slot with p ≥ tau, and at least the most confident one (Fast-dLLM). */
export function threshold(tau: number): Policy {
  return (candidates) => {
    const sure = candidates.filter((c) => c.p >= tau).map((c) => c.slot);
    return sure.length ? sure : sequential(candidates);
  };
}

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

export const POLICY_DEFAULTS = { k: 2, tau: 0.9, f: 2, gamma: 0.5 } as const;
export const POLICY_NAMES: readonly PolicyName[] = ['sequential', 'fixed', 'threshold', 'factor', 'entropy'];
/** Chosen by the benchmark's rule (docs/benchmarks.md): the fewest forwards within 1 point of exact match
 * of sequential on every task file and sequential's output on ≥ 80% of tasks. */
export const DEFAULT_POLICY: PolicySpec = { name: 'factor', f: POLICY_DEFAULTS.f };

/** The spec with its parameter filled in (only the parameter the policy uses). */
export function resolvePolicy(spec: PolicySpec): PolicySpec {
  switch (spec.name) {
    case 'sequential': return { name: 'sequential' };
    case 'fixed': return { name: 'fixed', k: checked(spec.k ?? POLICY_DEFAULTS.k, 'k', 1, Infinity, true) };
    case 'threshold': return { name: 'threshold', tau: checked(spec.tau ?? POLICY_DEFAULTS.tau, 'tau', 0, 1) };
    case 'factor': return { name: 'factor', f: checked(spec.f ?? POLICY_DEFAULTS.f, 'f', 0, Infinity) };
    case 'entropy': return { name: 'entropy', gamma: checked(spec.gamma ?? POLICY_DEFAULTS.gamma, 'gamma', 0, Infinity) };
    default:
      throw new Error(`unknown policy "${(spec as { name: unknown }).name}"; expected one of ${POLICY_NAMES.join(', ')}`);
  }
}

export function makePolicy(spec: PolicySpec): Policy {
  const r = resolvePolicy(spec);
  switch (r.name) {
    case 'sequential': return sequential;
    case 'fixed': return fixed(r.k!);
    case 'threshold': return threshold(r.tau!);
    case 'factor': return factor(r.f!);
    case 'entropy': return entropyBounded(r.gamma!);
  }
}

function checked(v: number, field: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`policy parameter ${field} = ${v} is out of range (expected ${integer ? 'an integer ' : ''}${min}…${max})`);
  }
  return v;
}
