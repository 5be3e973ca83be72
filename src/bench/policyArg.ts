// Policy arguments of the benchmark: the policy table's syntax ("sequential", "threshold:0.9", "factor:1",
// "fixed:2"), with options appended: "+noeotp" (end-of-text prediction off), "+block32" (blocks of 32).
import { parsePolicy, type PolicySpec } from '../engine/policyTable';

export interface BenchPolicy {
  label: string;
  /** Points of one family are joined by a line on the frontier plot. */
  family: string;
  spec: PolicySpec;
  eotp: boolean;
  blockSize?: number;
}

export const DEFAULT_BENCH_POLICIES = [
  'sequential',
  'threshold:0.95',
  'threshold:0.9',
  'threshold:0.8',
  'threshold:0.7',
  'entropy:0.1',
  'entropy:0.3',
  'entropy:0.5',
  'entropy:1',
  'factor:0.5',
  'factor:1',
  'factor:2',
  'fixed:2',
  'fixed:4',
];

export function parseBenchPolicy(arg: string): BenchPolicy {
  const [head, ...options] = arg.trim().split('+');
  const spec = parsePolicy(head);
  const policy = spec.name;
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
