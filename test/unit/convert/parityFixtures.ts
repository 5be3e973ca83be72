// Helpers of the converter's parity tests: the Python reference (training/parity_reference.py), softmax and
// entropy of its logits, and runs of a built graph in onnxruntime-node.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ort } from '../../../src/model/ort';
import { kvRows } from '../../../src/model/modelGraph';
import type { ArchSpec } from '../../../src/convert/spec';
import { GRAPH } from '../../../src/contract/graph';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const PYTHON = process.env.PYTHON ?? 'python3';

/** Seeded normal draws (mulberry32 + Box–Muller), so a failing test fails the same way again. */
export function normal(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Runs a Python script of training/ (one thread), failing with its stderr. */
export function python(script: string, args: string[]): string {
  const run = spawnSync(PYTHON, [path.join(ROOT, 'training', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
    maxBuffer: 16 << 20,
  });
  if (run.status !== 0) throw new Error(`training/${script} failed:\n${(run.stderr || run.error?.message || '').slice(-3000)}`);
  return run.stdout;
}

/** Python code (`python3 -c`) with `args` (one thread), failing with its stderr. */
export function pythonCode(code: string, args: string[]): string {
  const run = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 16 << 20 });
  if (run.status !== 0)
    throw new Error(`python3 -c failed (its packages come from bash training/install.sh):\n${(run.stderr || run.error?.message || '').slice(-3000)}`);
  return run.stdout;
}

/** transformers' (or model.py's) logits, [job][canvas][row], one Python run for all jobs. */
export function referenceLogits(jobs: { dir: string; canvases: number[][] }[], work: string): Float32Array[][][] {
  const args: string[] = [];
  jobs.forEach((job, j) => {
    const canvases = path.join(work, `canvases-${j}.json`);
    fs.writeFileSync(canvases, JSON.stringify(job.canvases));
    args.push(job.dir, canvases, path.join(work, `logits-${j}.f32`));
  });
  const stdout = python('parity_reference.py', args);
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { vocab: number; rows: number });
  return jobs.map((job, j) => {
    const all = new Float32Array(fs.readFileSync(path.join(work, `logits-${j}.f32`)).buffer.slice(0));
    const V = lines[j].vocab;
    let row = 0;
    return job.canvases.map((c) => c.map(() => all.subarray(row * V, ++row * V)));
  });
}

/** Softmax and entropy of one row of logits, in double precision. */
export function distribution(logits: Float32Array): { probs: Float64Array; entropy: number; top: number } {
  let max = -Infinity;
  let top = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) [max, top] = [logits[i], i];
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const probs = Float64Array.from(logits, (l) => Math.exp(l - max) / sum);
  let entropy = 0;
  for (const p of probs) if (p > 0) entropy -= p * Math.log(p);
  return { probs, entropy, top };
}

export interface Answer {
  topIds: number[][][];
  topProbs: number[][][];
  entropy: number[][];
  kv: ort.Tensor;
}

/** One run of the graph: `rows` token rows [start, start + q) of each canvas, `past` the other rows' keys/values. */
export async function runGraph(
  session: ort.InferenceSession,
  spec: ArchSpec,
  rows: number[][],
  start: number,
  positions: number[][],
  past?: ort.Tensor,
): Promise<Answer> {
  const batch = rows.length;
  const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
  const I = GRAPH.inputs;
  const out = await session.run({
    [I.ids]: int64(rows.flat(), [batch, rows[0].length]),
    [I.start]: int64([start], [1]),
    [I.pastKv]: past ?? new ort.Tensor('float32', new Float32Array(0), [spec.layers, 2, batch, spec.kvHeads, 0, spec.headDim]),
    [I.positions]: int64(positions.flat(), [batch, positions[0].length]),
  });
  const O = GRAPH.outputs;
  const K = out[O.topIds].dims[2];
  const ids = Array.from(out[O.topIds].data as BigInt64Array, Number);
  const probs = Array.from(out[O.topProbs].data as Float32Array);
  const entropy = Array.from(out[O.entropy].data as Float32Array);
  const n = positions[0].length;
  const shape3 = (xs: number[]) => Array.from({ length: batch }, (_, b) => Array.from({ length: n }, (_, i) => xs.slice((b * n + i) * K, (b * n + i + 1) * K)));
  return { topIds: shape3(ids), topProbs: shape3(probs), entropy: Array.from({ length: batch }, (_, b) => entropy.slice(b * n, (b + 1) * n)), kv: out[O.kv] };
}

/** The cached step's past_kv from the chosen rows of a full forward's kv (the runtime's one copy). */
export const selectRows = kvRows;
