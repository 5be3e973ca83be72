// The benchmark's measures, as small pure functions (docs/benchmarks.md).

/** Exact match: equal after trimming whitespace at both ends (inner whitespace must match). */
export function exactMatch(output: string, truth: string): boolean {
  return output.trim() === truth.trim();
}

/** 1 − Levenshtein distance / length of the longer string, on the end-trimmed texts. */
export function editSimilarity(output: string, truth: string): number {
  const a = output.trim();
  const b = truth.trim();
  if (a.length === 0 && b.length === 0) return 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return 1 - prev[b.length] / Math.max(a.length, b.length);
}

/** The q-th percentile (0–100) by nearest rank. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface FrontierPoint {
  /** Parallelism: tokens per forward. */
  tpf: number;
  /** Accuracy in percent (0–100). */
  accuracy: number;
}

/**
 * Accuracy Under Parallelism (d3LLM's AUP): sort the points by tokens per forward, keep those
 * within `offset` points of the accuracy at the lowest parallelism, weight each accuracy by
 * W(y) = min(exp(−α(1 − y/yMax)), 1), and integrate y·W(y) over tokens per forward
 * (a rectangle from 0 to the first point, trapezoids after it).
 */
export function accuracyUnderParallelism(points: readonly FrontierPoint[], yMax: number, alpha = 3, offset = 5): number {
  if (points.length === 0 || yMax <= 0) return 0;
  const sorted = [...points].sort((p, q) => p.tpf - q.tpf);
  const floor = sorted[0].accuracy - offset;
  const kept = sorted.filter((p) => p.accuracy >= floor);
  const weighted = (y: number) => y * Math.min(Math.exp(-alpha * (1 - y / yMax)), 1);
  let area = kept[0].tpf * weighted(kept[0].accuracy);
  for (let i = 1; i < kept.length; i++) {
    area += ((kept[i].tpf - kept[i - 1].tpf) * (weighted(kept[i].accuracy) + weighted(kept[i - 1].accuracy))) / 2;
  }
  return area;
}
