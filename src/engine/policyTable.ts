// The one catalogue of decoding policies (docs/architecture.md, "Policies"): name, parameter, range, default and
// description. The protocol's PolicySpec union, the engine, settings validation, the quick pick, the command
// line and the benchmark's "name:value" syntax all derive from it; a test checks package.json against it.
// Values only, no imports: the webview may import its types.

export interface PolicyParameter {
  /** The PolicySpec field that carries it. */
  field: string;
  /** How the documentation writes it. */
  symbol: string;
  min: number;
  max: number;
  integer: boolean;
  default: number;
}

export interface PolicyRow {
  parameter: PolicyParameter | null;
  /** What it trades, in a few words (quick pick description). */
  trade: string;
  /** The rule, one sentence. */
  rule: string;
  /** Where the rule comes from. */
  reference: string;
}

export const POLICY_TABLE = {
  sequential: {
    parameter: null,
    trade: 'slowest, the quality reference',
    rule: 'One token per forward pass: the most confident slot each step.',
    reference: 'LLaDA low-confidence remasking',
  },
  fixed: {
    parameter: { field: 'k', symbol: 'k', min: 1, max: 256, integer: true, default: 2 },
    trade: 'k tokens per forward',
    rule: 'The k most confident slots each step. Fast, but blind to confidence.',
    reference: 'LLaDA',
  },
  threshold: {
    parameter: { field: 'tau', symbol: 'τ', min: 0, max: 1, integer: false, default: 0.9 },
    trade: 'fast where the model is sure',
    rule: 'Every slot with p ≥ τ, at least the most confident one.',
    reference: 'Fast-dLLM',
  },
  factor: {
    parameter: { field: 'f', symbol: 'f', min: 0, max: 64, integer: false, default: 2 },
    trade: 'adapts the count to confidence',
    rule: 'Sorted by p, the largest n with (n+1)(1 − pₙ) < f.',
    reference: 'Fast-dLLM factor rule',
  },
  entropy: {
    parameter: { field: 'gamma', symbol: 'γ', min: 0, max: 64, integer: false, default: 0.5 },
    trade: 'bounded total uncertainty per step',
    rule: 'Slots by entropy, ascending, while their summed entropy minus the largest stays within γ.',
    reference: 'EB-Sampler',
  },
  learned: {
    // θ = 0.98: the lowest of 0.8/0.9/0.95/0.98/0.99 that gave sequential's output on ≥ 80% of 44 training-split
    // samples (docs/benchmarks.md, "The learned filter"); chosen there, not on the held-out tasks
    parameter: { field: 'theta', symbol: 'θ', min: 0, max: 1, integer: false, default: 0.98 },
    trade: "a learned filter decides; needs the model folder's filter graph",
    rule: 'Every slot whose learned filter score (P(its top-1 is final), from p, margin, entropy, position, step, stability and neighbours) is ≥ θ, at least the most confident one.',
    reference: 'Learn2PD',
  },
} as const satisfies Record<string, PolicyRow>;

export type PolicyTable = typeof POLICY_TABLE;
export type PolicyName = keyof PolicyTable;
type ParameterField<N extends PolicyName> = PolicyTable[N]['parameter'] extends { field: infer F extends string } ? F : never;
/** A policy and its parameter (absent: the table's default), one member per row of the table. */
export type PolicySpec = { [N in PolicyName]: { name: N } & { [F in ParameterField<N>]?: number } }[PolicyName];

export const POLICY_NAMES = Object.keys(POLICY_TABLE) as PolicyName[];

/** Chosen by the benchmark's rule (docs/benchmarks.md): the fewest forwards within 1 point of exact match
 * of sequential on every task file and sequential's output on ≥ 80% of tasks. */
export const DEFAULT_POLICY: PolicySpec = { name: 'factor', f: POLICY_TABLE.factor.parameter.default };

export function isPolicyName(name: unknown): name is PolicyName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(POLICY_TABLE, name);
}

export function policyParameter(name: PolicyName): PolicyParameter | null {
  return POLICY_TABLE[name].parameter;
}

/** "threshold (τ: 0…1)" */
export function describeParameter(p: PolicyParameter): string {
  return `${p.symbol}: ${p.integer ? 'an integer ' : ''}${p.min}…${p.max}, default ${p.default}`;
}

/** The error for a value outside the parameter's range, naming the policy and the field; undefined when valid. */
export function parameterProblem(name: PolicyName, value: unknown): string | undefined {
  const p = policyParameter(name);
  if (!p) return value === undefined || value === null ? undefined : `policy ${name} takes no parameter (got ${JSON.stringify(value)})`;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < p.min || value > p.max || (p.integer && !Number.isInteger(value))) {
    return `policy parameter ${p.field} = ${JSON.stringify(value)} of ${name} is out of range (expected ${p.integer ? 'an integer ' : ''}${p.min}…${p.max})`;
  }
  return undefined;
}

/** The parameter carried by a spec, or undefined. */
export function specParameter(spec: PolicySpec): number | undefined {
  const p = policyParameter(spec.name);
  const v = p ? (spec as Record<string, unknown>)[p.field] : undefined;
  return typeof v === 'number' ? v : undefined;
}

/** Builds a spec from a name and an optional parameter value; throws an error naming what is wrong. */
export function makeSpec(name: unknown, value?: number): PolicySpec {
  if (!isPolicyName(name)) throw new Error(`unknown policy "${String(name)}"; expected one of ${POLICY_NAMES.join(', ')}`);
  const p = policyParameter(name);
  if (value === undefined) return { name } as PolicySpec;
  const problem = parameterProblem(name, value);
  if (problem) throw new Error(problem);
  return { name, [p!.field]: value } as PolicySpec;
}

/** The spec with its parameter filled in from the table and checked (only the parameter the policy uses). */
export function resolvePolicy(spec: PolicySpec): PolicySpec {
  const name = (spec as { name: unknown }).name;
  if (!isPolicyName(name)) throw new Error(`unknown policy "${String(name)}"; expected one of ${POLICY_NAMES.join(', ')}`);
  const p = policyParameter(name);
  return makeSpec(name, p ? (specParameter(spec) ?? p.default) : undefined);
}

/** The command-line and benchmark syntax: "sequential", "threshold:0.9", "fixed:2"; a bare name takes the default. */
export function parsePolicy(text: string): PolicySpec {
  const [name, value, ...rest] = text.trim().split(':');
  if (rest.length) throw new Error(`policy "${text}": expected NAME or NAME:VALUE`);
  if (!isPolicyName(name)) throw new Error(`unknown policy "${name}" in "${text}"; expected one of ${POLICY_NAMES.join(', ')}`);
  if (value === undefined) return { name } as PolicySpec;
  if (!policyParameter(name)) throw new Error(`policy "${name}" takes no parameter (got "${text}")`);
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new Error(`policy "${text}": "${value}" is not a number`);
  return makeSpec(name, x);
}

/** The inverse of parsePolicy: "factor:2", or the bare name for a policy without parameter or left at its default. */
export function formatPolicy(spec: PolicySpec): string {
  const v = specParameter(spec);
  return v === undefined ? spec.name : `${spec.name}:${v}`;
}

/** "name:value" forms accepted on the command line, for usage texts. */
export function policySyntax(): string {
  return POLICY_NAMES.map((n) => (POLICY_TABLE[n].parameter ? `${n}[:${POLICY_TABLE[n].parameter!.symbol}]` : n)).join('|');
}
