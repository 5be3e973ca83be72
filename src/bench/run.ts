// Runs decoding policies over infill task files and measures speed and quality.
import { buildRequest, decode, type Decoder } from '../engine';
import type { BenchPolicy } from './policyArg';
import { accuracyUnderParallelism, editSimilarity, exactMatch, percentile } from './metrics';
import type { InfillTask, TaskFile } from './tasks';
import type { Trace } from '../protocol';

export const EXACT_MATCH_DEFINITION = 'completion and canonical_solution equal after removing whitespace at both ends (inner whitespace must match)';

export interface Scores {
  tasks: number;
  exactMatch: number;
  nonEmpty: number;
  editSimilarity: number;
  agreeWithSequential: number;
  forwardsMean: number;
  /** Totals over the tasks: tokensPerForward = tokens / forwards. */
  forwards: number;
  tokens: number;
  tokensPerForward: number;
  latencyMsP50: number;
  latencyMsP95: number;
}

export interface PolicyResult extends Scores {
  policy: string;
  family: string;
  byFile: Record<string, Scores>;
  /** What the confidence gate (unmask.minConfidence) would show, per gate value. */
  gate: GateRow[];
}

/** An edit similarity at least this high counts as close: a suggestion worth keeping with a small edit. */
export const CLOSE_SIMILARITY = 0.7;
export const GATE_VALUES = [0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export interface GateRow {
  minConfidence: number;
  /** Share of tasks whose completion is non-empty and clears the gate. */
  shown: number;
  /** Among those shown: exact, close (edit similarity ≥ CLOSE_SIMILARITY), mean edit similarity. */
  exactOfShown: number;
  closeOfShown: number;
  editSimilarityOfShown: number;
}

/** One decoded task, as the scores read it. */
export interface Outcome {
  file: string;
  taskId: string;
  text: string;
  truth: string;
  forwards: number;
  tokens: number;
  ms: number;
  confidence: number;
}

/** What the benchmark keeps of one task's decode. */
export function outcomeOf(fileName: string, task: Pick<InfillTask, 'task_id' | 'canonical_solution'>, trace: Trace): Outcome {
  return {
    file: fileName,
    taskId: task.task_id,
    text: trace.result.text,
    truth: task.canonical_solution,
    forwards: trace.stats.forwards,
    tokens: trace.stats.tokens,
    ms: trace.stats.msTotal,
    confidence: trace.result.confidence,
  };
}

export interface BenchProgress {
  policy: string;
  file: string;
  done: number;
  total: number;
}

export interface BenchOptions {
  decoder: Decoder;
  files: TaskFile[];
  policies: BenchPolicy[];
  onProgress?: (p: BenchProgress) => void;
  /** Called after each finished policy with everything so far (to save a usable partial result). */
  onPolicyDone?: (results: PolicyResult[]) => void;
  shouldStop?: () => boolean;
}

/** The scores of a set of outcomes; `sequential`: each task's sequential text (trimmed) by task id, for the agreement. */
export function score(outcomes: Outcome[], sequential: Map<string, string> | undefined): Scores {
  const n = outcomes.length;
  const forwards = outcomes.reduce((s, o) => s + o.forwards, 0);
  const tokens = outcomes.reduce((s, o) => s + o.tokens, 0);
  const same = outcomes.filter((o) => sequential?.get(o.taskId) === o.text.trim()).length;
  const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    tasks: n,
    exactMatch: round(outcomes.filter((o) => exactMatch(o.text, o.truth)).length / n),
    nonEmpty: round(outcomes.filter((o) => o.text.trim() !== '').length / n),
    editSimilarity: round(outcomes.reduce((s, o) => s + editSimilarity(o.text, o.truth), 0) / n),
    agreeWithSequential: sequential ? round(same / n) : NaN,
    forwardsMean: round(forwards / n, 3),
    forwards,
    tokens,
    tokensPerForward: round(tokens / Math.max(1, forwards), 3),
    latencyMsP50: round(
      percentile(
        outcomes.map((o) => o.ms),
        50,
      ),
      1,
    ),
    latencyMsP95: round(
      percentile(
        outcomes.map((o) => o.ms),
        95,
      ),
      1,
    ),
  };
}

/** Runs every policy on every task (sequential first: the others are compared with it). */
export async function runBench({ decoder, files, policies, onProgress, onPolicyDone, shouldStop }: BenchOptions): Promise<PolicyResult[]> {
  const ordered = [...policies].sort((a, b) => Number(b.spec.name === 'sequential') - Number(a.spec.name === 'sequential'));
  const total = files.reduce((s, f) => s + f.tasks.length, 0);
  const results: PolicyResult[] = [];
  let sequential: Map<string, string> | undefined;
  for (const policy of ordered) {
    const outcomes: Outcome[] = [];
    for (const file of files) {
      for (const task of file.tasks) {
        if (shouldStop?.()) return results;
        const trace = await decode(decoder, {
          ...buildRequest({ before: task.prompt, after: task.suffix }, { policy: policy.spec, endOfTextPrediction: policy.eotp }, file.singleLine),
          ...(policy.blockSize ? { blockSize: policy.blockSize } : {}),
          ...(policy.draft ? { draft: policy.draft } : {}),
        });
        outcomes.push(outcomeOf(file.name, task, trace));
        onProgress?.({ policy: policy.label, file: file.name, done: outcomes.length, total });
      }
    }
    if (policy.spec.name === 'sequential' && !sequential) {
      sequential = new Map(outcomes.map((o) => [o.taskId, o.text.trim()]));
    }
    const byFile: Record<string, Scores> = {};
    for (const file of files)
      byFile[file.name] = score(
        outcomes.filter((o) => o.file === file.name),
        sequential,
      );
    results.push({ policy: policy.label, family: policy.family, ...score(outcomes, sequential), byFile, gate: gateTable(outcomes) });
    onPolicyDone?.(results);
  }
  return results;
}

/** For each gate value: how many completions it shows and how good those are. */
export function gateTable(outcomes: readonly Pick<Outcome, 'text' | 'truth' | 'confidence'>[], values = GATE_VALUES): GateRow[] {
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  return values.map((minConfidence) => {
    const shown = outcomes.filter((o) => o.text.trim() !== '' && o.confidence >= minConfidence);
    const n = Math.max(1, shown.length);
    const sims = shown.map((o) => editSimilarity(o.text, o.truth));
    return {
      minConfidence,
      shown: round(shown.length / Math.max(1, outcomes.length)),
      exactOfShown: round(shown.filter((o) => exactMatch(o.text, o.truth)).length / n),
      closeOfShown: round(sims.filter((s) => s >= CLOSE_SIMILARITY).length / n),
      editSimilarityOfShown: round(sims.reduce((s, x) => s + x, 0) / n),
    };
  });
}

/**
 * The gate rule of docs/benchmarks.md: show a completion only where shown completions are worth it. The lowest gate
 * at which at least `precision` of the completions it shows are close (edit similarity ≥ CLOSE_SIMILARITY); when
 * no gate that shows anything gets there, the lowest gate that shows nothing (the model is not worth showing);
 * failing both, the highest gate measured.
 */
export function chooseGate(rows: readonly GateRow[], precision = 0.5): number {
  const sorted = [...rows].sort((a, b) => a.minConfidence - b.minConfidence);
  const worth = sorted.find((r) => r.shown > 0 && r.closeOfShown >= precision);
  if (worth) return worth.minConfidence;
  const none = sorted.find((r) => r.shown === 0);
  return (none ?? sorted[sorted.length - 1])?.minConfidence ?? 0;
}

/** AUP of each policy family over its sweep, with `sequential` as every family's first point. */
export function aupByFamily(results: readonly PolicyResult[]): Record<string, number> {
  const yMax = Math.max(...results.map((r) => r.exactMatch * 100));
  const seq = results.find((r) => r.family === 'sequential');
  const out: Record<string, number> = {};
  for (const family of new Set(results.map((r) => r.family))) {
    const pts = results
      .filter((r) => r.family === family || (r === seq && family !== 'sequential'))
      .map((r) => ({ tpf: r.tokensPerForward, accuracy: r.exactMatch * 100 }));
    out[family] = Math.round(accuracyUnderParallelism(pts, yMax) * 100) / 100;
  }
  return out;
}

/**
 * The default-policy rule of docs/benchmarks.md: among the policies that lose at most `maxLoss` of exact
 * match against sequential on every task file and produce sequential's output on at least `minAgreement`
 * of all tasks, the one with the fewest forwards per task.
 */
export function chooseDefault(results: readonly PolicyResult[], maxLoss = 0.01, minAgreement = 0.8): PolicyResult | undefined {
  const seq = results.find((r) => r.family === 'sequential');
  if (!seq) return undefined;
  const eligible = results.filter(
    (r) => r.agreeWithSequential >= minAgreement && Object.entries(r.byFile).every(([file, f]) => f.exactMatch >= seq.byFile[file].exactMatch - maxLoss - 1e-9),
  );
  return eligible.sort((a, b) => a.forwardsMean - b.forwardsMean)[0];
}
