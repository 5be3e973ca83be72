// Policy arguments of the benchmark: the policy table's syntax ("sequential", "threshold:0.9", "factor:1",
// "fixed:2"), with options appended: "+noeotp" (end-of-text prediction off), "+block32" (blocks of 32), "+draft4"
// (lossless draft-and-verify with batches of 4, engine/draft.ts; "+draft": the model's measured choice).
import { parsePolicy, type PolicySpec } from '../engine/policyTable';
import { MAX_DRAFT } from '../engine/draft';

export interface BenchPolicy {
  label: string;
  /** Points of one family are joined by a line on the frontier plot. */
  family: string;
  spec: PolicySpec;
  eotp: boolean;
  blockSize?: number;
  /** Draft-and-verify: batches of this many canvases, or 'auto' (the model's choice); absent: off. */
  draft?: number | 'auto';
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
  let draft: number | 'auto' | undefined;
  for (const o of options) {
    if (o === 'noeotp') eotp = false;
    else if (/^block\d+$/.test(o)) blockSize = Number(o.slice(5));
    else if (o === 'draft') draft = 'auto';
    else if (/^draft\d+$/.test(o) && Number(o.slice(5)) >= 1 && Number(o.slice(5)) <= MAX_DRAFT) draft = Number(o.slice(5));
    else throw new Error(`unknown option "+${o}" in "${arg}"; expected +noeotp, +blockN or +draft[K] (K 1…${MAX_DRAFT})`);
  }
  // draft-and-verify changes no text: it is the same family (the same point on the frontier, fewer forwards)
  const variant = `${eotp ? '' : '+noeotp'}${blockSize ? `+block${blockSize}` : ''}`;
  return { label: arg.trim(), family: policy + variant, spec, eotp, ...(blockSize ? { blockSize } : {}), ...(draft ? { draft } : {}) };
}
