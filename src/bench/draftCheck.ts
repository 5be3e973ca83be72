// Draft-and-verify's check (docs/benchmarks.md, "Draft-and-verify"): every task decoded with a policy and with the
// same policy under draft-and-verify must give the same text and the same sequence of unmask sets (src/engine/draft.ts
// promises it); counts the forwards and the wall time of each.
import { decode, type Decoder } from '../engine/decode';
import { buildRequest } from '../engine/request';
import type { CompleteRequest, Trace } from '../protocol';
import type { TaskFile } from './tasks';
import type { BenchPolicy } from './policyArg';

export interface DraftCheck {
  policy: string;
  draft: number | 'auto';
  tasks: number;
  /** Tasks whose text, unmasking order and stop reason equal the policy's without drafting. */
  same: number;
  /** The tasks that differ (their ids), at most 20. */
  differ: string[];
  forwards: number;
  forwardsDrafted: number;
  /** Steps whose forward was a row of an earlier batch (accepted drafts). */
  acceptedSteps: number;
  ms: number;
  msDrafted: number;
}

/** The sequence of unmask sets, the text and the stop reason: what draft-and-verify must not change. */
export function decodeOrder(trace: Trace): string {
  const order = trace.steps.map((s) => s.unmasked.map((u) => `${u.slot}:${u.token}`).join(',')).join('|');
  return `${order}#${trace.result.stoppedBy}#${trace.result.text}`;
}

export async function checkDraft(
  decoder: Decoder,
  files: readonly TaskFile[],
  policy: BenchPolicy,
  draft: number | 'auto',
  onTask?: (done: number) => void,
): Promise<DraftCheck> {
  const out: DraftCheck = {
    policy: policy.label,
    draft,
    tasks: 0,
    same: 0,
    differ: [],
    forwards: 0,
    forwardsDrafted: 0,
    acceptedSteps: 0,
    ms: 0,
    msDrafted: 0,
  };
  for (const file of files) {
    for (const task of file.tasks) {
      const request: CompleteRequest = {
        ...buildRequest({ before: task.prompt, after: task.suffix }, { policy: policy.spec, endOfTextPrediction: policy.eotp }, file.singleLine),
        ...(policy.blockSize ? { blockSize: policy.blockSize } : {}),
      };
      let t = performance.now();
      const plain = await decode(decoder, request);
      out.ms += performance.now() - t;
      t = performance.now();
      const drafted = await decode(decoder, { ...request, draft });
      out.msDrafted += performance.now() - t;
      out.tasks++;
      out.forwards += plain.stats.forwards;
      out.forwardsDrafted += drafted.stats.forwards;
      out.acceptedSteps += drafted.steps.filter((s) => s.drafted).length;
      if (decodeOrder(plain) === decodeOrder(drafted)) out.same++;
      else if (out.differ.length < 20) out.differ.push(`${file.name}:${task.task_id}`);
      onTask?.(out.tasks);
    }
  }
  out.ms = Math.round(out.ms);
  out.msDrafted = Math.round(out.msDrafted);
  return out;
}
