// Policy arguments of the benchmark: "sequential", "threshold:0.9", "entropy:0.5", "factor:1",
// "fixed:2", with options appended: "+noeotp" (end-of-text prediction off), "+block32" (blocks of 32).
import type { PolicyName, PolicySpec } from '../protocol';

export interface BenchPolicy {
  label: string;
  /** Points of one family are joined by a line on the frontier plot. */
  family: string;
  spec: PolicySpec;
  eotp: boolean;
  blockSize?: number;
}

const PARAM: Record<PolicyName, keyof PolicySpec | null> = {
  sequential: null, fixed: 'k', threshold: 'tau', factor: 'f', entropy: 'gamma',
};

export const DEFAULT_BENCH_POLICIES = [
  'sequential',
  'threshold:0.95', 'threshold:0.9', 'threshold:0.8', 'threshold:0.7',
  'entropy:0.1', 'entropy:0.3', 'entropy:0.5', 'entropy:1',
  'factor:0.5', 'factor:1', 'factor:2',
  'fixed:2', 'fixed:4',
];

export function parseBenchPolicy(arg: string): BenchPolicy {
  const [head, ...options] = arg.trim().split('+');
  const [name, value] = head.split(':');
  if (!(name in PARAM)) {
    throw new Error(`unknown policy "${name}" in "${arg}"; expected one of ${Object.keys(PARAM).join(', ')}`);
  }
  const policy = name as PolicyName;
  const spec: PolicySpec = { name: policy };
  const param = PARAM[policy];
  if (param) {
    const x = Number(value);
    if (value === undefined || !Number.isFinite(x) || x <= 0) {
      throw new Error(`policy "${arg}" needs a positive number after the colon, e.g. ${policy}:${policy === 'fixed' ? 2 : 0.9}`);
    }
    (spec as unknown as Record<string, number>)[param] = x;
  } else if (value !== undefined) {
    throw new Error(`policy "sequential" takes no parameter (got "${arg}")`);
  }
  let eotp = true;
  let blockSize: number | undefined;
  for (const o of options) {
    if (o === 'noeotp') eotp = false;
    else if (/^block\d+$/.test(o)) blockSize = Number(o.slice(5));
    else throw new Error(`unknown option "+${o}" in "${arg}"; expected +noeotp or +blockN`);
  }
  const variant = `${eotp ? '' : '+noeotp'}${blockSize ? `+block${blockSize}` : ''}`;
  return { label: arg.trim(), family: policy + variant, spec, eotp, ...(blockSize ? { blockSize } : {}) };
}
