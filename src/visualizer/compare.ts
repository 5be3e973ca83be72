// Decoding one infill again with each policy, for the visualizer's comparison. No vscode here.
import { POLICY_NAMES } from '../engine/policyTable';
import type { CompleteRequest, PolicySpec, Trace } from '../protocol';

/** Every policy with its default parameter, sequential first: the reference parallel decoding is judged against (docs/architecture.md, "The decode loop"). */
export const COMPARE_POLICIES: readonly PolicySpec[] = POLICY_NAMES.map((name) => ({ name }));

/**
 * The request that decodes the same infill as `trace` (its canvas text, slots and options) with `policy`.
 * The prefix and suffix are those that fit the canvas, so shaping sees no more context than that.
 */
export function requestFor(trace: Trace, policy: PolicySpec): CompleteRequest {
  const { eotp, blockSize, maxForwards } = trace.policy;
  return {
    prefix: trace.prefixText,
    suffix: trace.suffixText,
    slots: trace.slots,
    singleLine: trace.singleLine,
    policy,
    eotp: eotp !== false,
    ...(typeof blockSize === 'number' ? { blockSize } : {}),
    ...(typeof maxForwards === 'number' ? { maxForwards } : {}),
  };
}

/** Decodes `trace`'s infill with each policy in turn (one at a time: they share the model). */
export async function decodeWithPolicies(
  trace: Trace,
  complete: (request: CompleteRequest) => Promise<Trace>,
  policies: readonly PolicySpec[] = COMPARE_POLICIES,
): Promise<Trace[]> {
  const traces: Trace[] = [];
  for (const policy of policies) {
    try {
      traces.push(await complete(requestFor(trace, policy)));
    } catch (e) {
      // a model folder without a learned filter cannot decode `learned`: compare the others
      if (policy.name === 'learned' && /policy "learned" is unavailable/.test(String((e as Error)?.message ?? e))) continue;
      throw e;
    }
  }
  return traces;
}
